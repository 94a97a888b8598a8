import pytest

from compliance.services.content_policy import content_policy_check
from portal.errors import ApiError


def test_no_blocklist_allows_everything(tenant):
    content_policy_check(tenant=tenant, texts=["anything at all"])


def test_blocked_term_refuses_without_naming_it(tenant):
    tenant.blocked_terms = ["codename", "  "]
    with pytest.raises(ApiError) as raised:
        content_policy_check(tenant=tenant, texts=["fine", "the CODENAME is"])
    assert raised.value.code == "content_policy_violation"
    assert "codename" not in raised.value.message.lower()


def test_terms_match_whole_words_and_are_not_regular_expressions(tenant):
    tenant.blocked_terms = ["a.b"]
    content_policy_check(tenant=tenant, texts=["axb", "codenames"])
    with pytest.raises(ApiError):
        content_policy_check(tenant=tenant, texts=["see a.b now"])
