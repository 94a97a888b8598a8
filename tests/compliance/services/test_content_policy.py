"""Stage 1 content policy: tenant rules, personal data, rule changes and what leaks nowhere."""

import logging

import pytest

from compliance.models import AuditEntry, ContentRule, TenantPolicy
from compliance.services.content_policy import (
    PolicyVerdict,
    content_policy_check,
    content_rule_create,
    content_rule_delete,
    image_guard_verdict,
)
from compliance.services.policy import tenant_policy_get
from portal.errors import ApiError
from portal.models import Tenant

pytestmark = pytest.mark.django_db

BSN = r"\b\d{4}\.?\d{2}\.?\d{3}\b"
CLINICAL = (
    "Patient, 67, BP 140/90 mmHg, HbA1c 7.2%, eGFR 58 mL/min, ICD-10 E11.9, started "
    "2024-03-01. Take 500 mg twice daily; review in room 12 at 10:30 on 12/04/2025."
)


def rule(tenant, *, name="r", kind="term", value="codename", action="block") -> ContentRule:
    return content_rule_create(
        actor_id=None, tenant=tenant, name=name, kind=kind, value=value, action=action
    )


def pii_actions_set(tenant, **actions) -> None:
    policy = tenant_policy_get(tenant_id=tenant.id)
    policy.pii_actions = actions
    policy.save()


def refusal(tenant, *texts) -> ApiError:
    with pytest.raises(ApiError) as raised:
        content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=texts)
    assert raised.value.code == "content_policy_violation"
    return raised.value


def test_text_without_rules_or_personal_data_passes_unmarked(tenant):
    assert (
        content_policy_check(
            policy=tenant_policy_get(tenant_id=tenant.id), texts=["anything at all"]
        )
        == PolicyVerdict()
    )


def test_ordinary_clinical_text_is_not_flagged(tenant):
    assert (
        content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=[CLINICAL])
        == PolicyVerdict()
    )


def test_blocked_term_refuses_without_naming_it(tenant):
    rule(tenant, value="Project Falcon")
    error = refusal(tenant, "fine", "status of PROJECT FALCON?")
    assert "falcon" not in error.message.lower()


def test_terms_match_whole_words_and_are_not_regular_expressions(tenant):
    rule(tenant, value="a.b")
    content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=["axb", "a.bc"])
    refusal(tenant, "see a.b now")


def test_a_terms_spaces_match_any_white_space(tenant):
    rule(tenant, value="Project Falcon")
    refusal(tenant, "project\n  falcon")


def test_blocked_pattern_refuses_without_quoting_the_match(tenant):
    rule(tenant, name="bsn", kind="pattern", value=BSN)
    error = refusal(tenant, "BSN 1234.56.782 please")
    assert "1234" not in error.message and "pattern" in error.message


def test_sensitive_pattern_marks_the_verdict_with_the_rules_name(tenant):
    rule(tenant, name="bsn", kind="pattern", value=BSN, action="sensitive")
    verdict = content_policy_check(
        policy=tenant_policy_get(tenant_id=tenant.id), texts=["BSN 123456782"]
    )
    assert verdict == PolicyVerdict(sensitive=True, findings=("bsn",))


def test_an_edited_rule_applies_at_once(tenant):
    stored = rule(tenant, value="falcon")
    refusal(tenant, "falcon")
    stored.value = "eagle"
    stored.save()
    content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=["falcon"])
    refusal(tenant, "eagle")


def test_one_tenants_rules_do_not_apply_to_another(tenant):
    other = Tenant.objects.create(slug="other", name="Other Bank")
    rule(other, value="codename")
    assert (
        content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=["the codename"])
        == PolicyVerdict()
    )


@pytest.mark.parametrize(
    ("entity", "text"),
    [
        ("EMAIL_ADDRESS", "write to jan.jansen@example.nl today"),
        ("PHONE_NUMBER", "call +31 20 123 4567"),
        ("IBAN_CODE", "pay to NL91 ABNA 0417 1643 00"),
        ("CREDIT_CARD", "card 4111 1111 1111 1111"),
        ("IP_ADDRESS", "the pump at 192.168.10.23 is down"),
    ],
)
def test_core_personal_data_is_sensitive_by_default(tenant, entity, text):
    verdict = content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=[text])
    assert verdict == PolicyVerdict(sensitive=True, findings=(entity,))


def test_a_card_number_failing_the_luhn_check_is_not_personal_data(tenant):
    verdict = content_policy_check(
        policy=tenant_policy_get(tenant_id=tenant.id), texts=["card 4111 1111 1111 1112"]
    )
    assert verdict == PolicyVerdict()


def test_a_number_of_fewer_than_seven_digits_is_not_a_phone_number(tenant):
    verdict = content_policy_check(
        policy=tenant_policy_get(tenant_id=tenant.id), texts=["bleep 1643 or 030 123"]
    )
    assert verdict == PolicyVerdict()


def test_an_entity_set_to_block_refuses_naming_the_kind_but_not_the_value(tenant):
    pii_actions_set(tenant, EMAIL_ADDRESS="block")
    error = refusal(tenant, "write to jan.jansen@example.nl")
    assert "EMAIL_ADDRESS" in error.message
    assert "jansen" not in error.message and "example" not in error.message


def test_an_entity_set_to_off_is_ignored(tenant):
    pii_actions_set(tenant, EMAIL_ADDRESS="off")
    assert (
        content_policy_check(
            policy=tenant_policy_get(tenant_id=tenant.id), texts=["jan@example.nl"]
        )
        == PolicyVerdict()
    )


def test_urls_are_off_unless_the_tenant_names_them(tenant):
    text = "see https://intranet.example.org/wards"
    assert (
        content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=[text])
        == PolicyVerdict()
    )
    pii_actions_set(tenant, URL="sensitive")
    assert content_policy_check(
        policy=tenant_policy_get(tenant_id=tenant.id), texts=[text]
    ).findings == ("URL",)


def test_a_national_recognizer_runs_only_when_the_tenant_names_it(tenant):
    text = "DNI 12345678Z"
    assert (
        content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=[text])
        == PolicyVerdict()
    )
    pii_actions_set(tenant, ES_NIF="sensitive")
    assert content_policy_check(
        policy=tenant_policy_get(tenant_id=tenant.id), texts=[text]
    ).findings == ("ES_NIF",)


def test_findings_are_sorted_and_unique_across_texts(tenant):
    rule(tenant, name="codename", value="falcon", action="sensitive")
    texts = ["falcon at jan@example.nl", "ann@example.nl", "call +31 20 123 4567"]
    verdict = content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=texts)
    assert verdict.findings == ("EMAIL_ADDRESS", "PHONE_NUMBER", "codename")


def test_no_text_reaches_the_logs(tenant, caplog):
    caplog.set_level(logging.DEBUG)
    pii_actions_set(tenant, US_SSN="sensitive")
    rule(tenant, name="bsn", kind="pattern", value=BSN, action="sensitive")
    secrets = ["jan.jansen@example.nl", "4111 1111 1111 1111", "123456782", "401-52-7913"]
    content_policy_check(
        policy=tenant_policy_get(tenant_id=tenant.id),
        texts=[f"mail {secrets[0]}, card {secrets[1]}, BSN {secrets[2]}, ssn {secrets[3]}"],
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert not any(secret in logged for secret in secrets)
    assert "jansen" not in logged and "ssn" not in logged.lower()


def test_a_stored_pattern_that_does_not_compile_is_skipped(tenant, caplog):
    ContentRule.objects.create(tenant=tenant, name="broken", kind="pattern", value="(unclosed")
    assert (
        content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=["(unclosed"])
        == PolicyVerdict()
    )
    assert "does not compile" in caplog.text


def test_a_pattern_that_runs_too_long_counts_as_matched(tenant):
    ContentRule.objects.create(tenant=tenant, name="slow", kind="pattern", value=r"(a|aa)+$")
    refusal(tenant, "a" * 60 + "b")


def test_creating_a_rule_is_audited_without_its_value(tenant):
    created = rule(tenant, name="codename", value="Project Falcon")
    entry = AuditEntry.objects.get(action="content_rule.create")
    assert entry.tenant_id == tenant.id and entry.target == f"content_rule:{created.id}"
    assert entry.details == {"name": "codename", "kind": "term", "action": "block"}


def test_deleting_a_rule_removes_it_and_is_audited(tenant):
    created = rule(tenant, name="codename", value="Project Falcon")
    target = f"content_rule:{created.id}"
    content_rule_delete(actor_id=7, rule=created)
    assert not ContentRule.objects.filter(tenant=tenant).exists()
    entry = AuditEntry.objects.get(action="content_rule.delete")
    assert entry.actor_id == 7 and entry.target == target
    assert entry.details == {"name": "codename", "kind": "term", "action": "block"}
    content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=["Project Falcon"])


@pytest.mark.parametrize(
    ("kind", "value"),
    [("pattern", "(unclosed"), ("pattern", r"\d*"), ("term", "   ")],
    ids=["invalid-regex", "matches-empty-text", "empty-term"],
)
def test_a_rule_that_could_not_apply_is_refused_at_creation(tenant, kind, value):
    with pytest.raises(ApiError) as raised:
        rule(tenant, kind=kind, value=value)
    assert raised.value.code == "invalid_request" and raised.value.param == "value"
    assert not ContentRule.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("entity", "text"),
    [("IBAN_CODE", "pay to NL91 ABNA 0417 1643 00"), ("IP_ADDRESS", "host 192.168.10.23")],
)
def test_digits_inside_a_better_scored_find_are_not_a_phone_number(tenant, entity, text):
    pii_actions_set(tenant, PHONE_NUMBER="block", **{entity: "off"})
    assert (
        content_policy_check(policy=tenant_policy_get(tenant_id=tenant.id), texts=[text])
        == PolicyVerdict()
    )


class TestImageGuardVerdict:
    """How the tenant reads its guard model's labels for one image."""

    @staticmethod
    def policy(**fields):
        return TenantPolicy(
            image_guard_model="guard",
            image_guard_labels={"x-ray": "sensitive", "weapon": "block"},
            image_guard_threshold=0.5,
            **fields,
        )

    def test_a_sensitive_label_over_the_threshold_marks_the_image(self):
        verdict = image_guard_verdict(policy=self.policy(), labels=[("x-ray", 0.9)])
        assert verdict.sensitive and verdict.findings == ("x-ray",)

    def test_a_label_under_the_threshold_does_not_count(self):
        verdict = image_guard_verdict(
            policy=self.policy(), labels=[("x-ray", 0.49), ("weapon", 0.2)]
        )
        assert not verdict.sensitive

    def test_a_blocked_label_refuses_and_names_only_the_label(self):
        with pytest.raises(ApiError) as refused:
            image_guard_verdict(policy=self.policy(), labels=[("weapon", 0.7), ("cat", 0.3)])
        assert refused.value.code == "content_policy_violation"
        assert "weapon" in refused.value.message and "cat" not in refused.value.message

    def test_unguarded_labels_are_ignored(self):
        assert not image_guard_verdict(policy=self.policy(), labels=[("cat", 1.0)]).sensitive
