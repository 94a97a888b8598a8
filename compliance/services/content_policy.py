"""Stage 1 content policy: the per-tenant blocklist.

A match refuses the request before any model runs. The error never names the term or quotes
the text, so the refusal itself leaks nothing into logs or responses.
"""

import re
from collections.abc import Iterable

from portal.errors import ApiError
from portal.models import Tenant


def _blocklist_pattern(terms: list[str]) -> re.Pattern | None:
    cleaned = [re.escape(term.strip()) for term in terms if term.strip()]
    if not cleaned:
        return None
    return re.compile(r"\b(?:" + "|".join(cleaned) + r")\b", re.IGNORECASE)


def content_policy_check(*, tenant: Tenant, texts: Iterable[str]) -> None:
    pattern = _blocklist_pattern(tenant.blocked_terms or [])
    if pattern is None:
        return
    if any(pattern.search(text) for text in texts):
        raise ApiError(
            "content_policy_violation",
            "The input contains a term that this organisation's policy does not allow.",
        )
