"""Stage 1 content policy: a tenant's own terms and patterns, and personal data found by
presidio. It checks inputs before any model runs and outputs before they are delivered.

What must stay true:
- A `block` match refuses with content_policy_violation; a `sensitive` match lets the text
  through, and the verdict says so, so that it is never cached or archived.
- Neither an error, a verdict nor a log line holds the text or a matched value: they name
  rules and entity types only. Presidio's own debug lines quote text, so its logger stays at
  WARNING.
- Detection is offline: presidio runs on a blank spaCy pipeline, e-mail domains are checked
  against tldextract's bundled suffix list, and nothing is ever downloaded.
- Personal data: the core entities are sensitive unless the tenant's policy says otherwise;
  URL and every national recognizer run only for a tenant whose policy names them.
- Rules are validated when created; a stored rule that still fails to compile is skipped and
  logged by id, and one that runs past its time limit counts as matched (fail closed).
"""

import functools
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import regex
import spacy
import tldextract
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer import predefined_recognizers as presidio_recognizers
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from spacy.language import Language

from compliance.models import CacheEntry, ContentRule, TenantPolicy
from compliance.models.policy import Action
from compliance.services.audit import audit_append
from portal.errors import ApiError
from portal.models import Tenant

logger = logging.getLogger(__name__)

OFF = "off"
# The action for an entity a tenant's pii_actions does not name. Any other entity presidio
# knows (US_SSN, UK_NHS, ES_NIF, ...) is looked for only for a tenant that names it.
DEFAULT_PII_ACTIONS = {
    "EMAIL_ADDRESS": Action.SENSITIVE,
    "PHONE_NUMBER": Action.SENSITIVE,
    "IBAN_CODE": Action.SENSITIVE,
    "CREDIT_CARD": Action.SENSITIVE,
    "IP_ADDRESS": Action.SENSITIVE,
    "URL": OFF,  # found, but not personal data by itself
}
_CORE_ENTITIES = frozenset(e for e, a in DEFAULT_PII_ACTIONS.items() if a == Action.SENSITIVE)
# Presidio's scores: 1.0 for checksum-validated finds (card, IBAN, e-mail, most national ids),
# 0.4 for a phone number libphonenumber deems valid; weaker patterns need a context word
# ("ssn", "passport", ...) nearby to reach it.
PII_MIN_SCORE = 0.4
RULE_TIMEOUT_S = 0.1
_LANGUAGE = "en"


@dataclass(frozen=True)
class PolicyVerdict:
    sensitive: bool = False  # a `sensitive` match: serve, but never cache or archive
    findings: tuple[str, ...] = ()  # sorted names of the rules and entities; never the text


@dataclass(frozen=True)
class _Rule:
    id: int
    name: str
    kind: str
    action: str
    pattern: regex.Pattern


@dataclass(frozen=True)
class _PiiDetector:
    analyzer: AnalyzerEngine
    entities: frozenset[str]
    # NOTE: spaCy and presidio promise no thread safety. The work is pure Python holding the
    # GIL, so serializing the validation threads here costs no throughput.
    lock: threading.Lock


def content_policy_check(*, policy: TenantPolicy, texts: Iterable[str]) -> PolicyVerdict:
    """Raises ApiError("content_policy_violation", ...) when any `block` rule or PII entity
    matches; else the verdict. `policy` is the tenant's, as the caller already read it."""
    texts = [text for text in texts if text]
    if not texts:
        return PolicyVerdict()
    found = _rules_found(rules=_tenant_rules(tenant_id=policy.tenant_id), texts=texts)
    found |= _pii_found(pii_actions=policy.pii_actions, texts=texts)
    return PolicyVerdict(sensitive=bool(found), findings=tuple(sorted(found)))


@transaction.atomic
def content_rule_create(
    *, actor_id: int | None, tenant: Tenant, name: str, kind: str, value: str, action: str
) -> ContentRule:
    """Refuse a rule that could not be applied, so that checks never meet one."""
    if kind == ContentRule.Kind.TERM:
        value = value.strip()
    rule = ContentRule(tenant=tenant, name=name.strip(), kind=kind, value=value, action=action)
    _rule_validate(rule)
    rule.save()
    _cache_forget(tenant.id)
    audit_append(
        action="content_rule.create",
        actor_id=actor_id,
        tenant_id=tenant.id,
        target=f"content_rule:{rule.id}",
        details=_rule_details(rule),
    )
    return rule


@transaction.atomic
def content_rule_delete(*, actor_id: int | None, rule: ContentRule) -> None:
    audit_append(
        action="content_rule.delete",
        actor_id=actor_id,
        tenant_id=rule.tenant_id,
        target=f"content_rule:{rule.id}",
        details=_rule_details(rule),
    )
    rule.delete()
    _cache_forget(rule.tenant_id)


def _cache_forget(tenant_id: int) -> None:
    """Cached outputs were checked under the old rules (a cache hit is not checked again)."""
    CacheEntry.objects.filter(tenant_id=tenant_id).delete()


def content_policy_warm() -> None:
    """Build the PII analyzer now (about 0.4 s), not on the first request."""
    _pii_detector()


def _rule_details(rule: ContentRule) -> dict:
    """What the audit trail keeps of a rule: not its value, since a term may itself be
    sensitive."""
    return {"name": rule.name, "kind": rule.kind, "action": rule.action}


def _rule_validate(rule: ContentRule) -> None:
    try:
        rule.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        param = None if field == NON_FIELD_ERRORS else field
        raise ApiError("invalid_request", messages[0], param=param) from None
    try:
        pattern = _rule_pattern(kind=rule.kind, value=rule.value)
    except regex.error as error:
        message = f"The pattern is not a valid regular expression: {error.msg}."
        raise ApiError("invalid_request", message, param="value") from None
    if pattern.search(""):
        message = "The pattern matches empty text, so it would match everything."
        raise ApiError("invalid_request", message, param="value")


def _rule_pattern(*, kind: str, value: str) -> regex.Pattern:
    """A term matches as whole words in any case, its spaces as any run of white space."""
    if kind == ContentRule.Kind.TERM:
        words = r"\s+".join(regex.escape(word) for word in value.split())
        return regex.compile(rf"(?<!\w){words}(?!\w)", regex.IGNORECASE)
    return regex.compile(value)


def _tenant_rules(*, tenant_id: int) -> tuple[_Rule, ...]:
    rows = ContentRule.objects.filter(tenant_id=tenant_id).order_by("id")
    return _rules_compiled(tuple(rows.values_list("id", "name", "kind", "value", "action")))


@functools.lru_cache(maxsize=1024)
def _rules_compiled(rows: tuple[tuple[int, str, str, str, str], ...]) -> tuple[_Rule, ...]:
    """Compiled once per distinct set of rules: an edited rule is a new key."""
    rules = []
    for rule_id, name, kind, value, action in rows:
        try:
            pattern = _rule_pattern(kind=kind, value=value)
        except regex.error:
            logger.warning("content rule %s does not compile; skipped", rule_id)
            continue
        rules.append(_Rule(id=rule_id, name=name, kind=kind, action=action, pattern=pattern))
    return tuple(rules)


def _rules_found(*, rules: Iterable[_Rule], texts: list[str]) -> set[str]:
    """Names of the sensitive rules that match; the first block rule to match refuses."""
    found = set()
    for rule in rules:
        if any(_rule_matches(rule, text) for text in texts):
            if rule.action == Action.BLOCK:
                raise _rule_refusal(rule)
            found.add(rule.name)
    return found


def _rule_matches(rule: _Rule, text: str) -> bool:
    try:
        return rule.pattern.search(text, timeout=RULE_TIMEOUT_S) is not None
    except TimeoutError:
        # NOTE: a rule that cannot decide in time counts as matched: a blocklist must not
        # let through what it could not check, and the time limit keeps one pathological
        # pattern from holding the GIL, and so the whole process.
        logger.warning("content rule %s ran past %ss; counted as matched", rule.id, RULE_TIMEOUT_S)
        return True


def _rule_refusal(rule: _Rule) -> ApiError:
    if rule.kind == ContentRule.Kind.TERM:
        message = "The text contains a term that this organisation's policy does not allow."
    else:
        message = "The text matches a pattern that this organisation's policy does not allow."
    return ApiError("content_policy_violation", message)


def _pii_found(*, pii_actions: dict, texts: list[str]) -> set[str]:
    """Entities found whose action is sensitive; the first one whose action is block refuses."""
    actions = {**DEFAULT_PII_ACTIONS, **pii_actions}
    wanted = {entity for entity, action in actions.items() if action != OFF}
    if not wanted or not texts:
        return set()
    detector = _pii_detector()
    # NOTE: the core entities are looked for even where off, as evidence: digits that
    # libphonenumber takes for a phone number inside an IBAN or an IP address are that.
    entities = sorted((wanted | _CORE_ENTITIES) & detector.entities)
    found = set()
    for text in texts:
        for entity in sorted(_pii_entities(detector, text=text, entities=entities) & wanted):
            if actions[entity] == Action.BLOCK:
                message = (
                    "The text contains personal data of a kind this organisation's policy "
                    f"does not allow ({entity})."
                )
                raise ApiError("content_policy_violation", message)
            found.add(entity)
    return found


def _pii_entities(detector: _PiiDetector, *, text: str, entities: list[str]) -> set[str]:
    """Where finds of two kinds overlap, the better-scored kind is what was found."""
    with detector.lock:
        results = detector.analyzer.analyze(
            text=text, language=_LANGUAGE, entities=entities, score_threshold=PII_MIN_SCORE
        )
    return {
        result.entity_type
        for result in results
        if not any(
            other.score > result.score and other.start < result.end and result.start < other.end
            for other in results
        )
    }


_detector: _PiiDetector | None = None
_detector_lock = threading.Lock()


def _pii_detector() -> _PiiDetector:
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                _detector = _pii_detector_build()
    return _detector


def _pii_detector_build() -> _PiiDetector:
    """One analyzer per process: every pattern recognizer presidio ships, for English text."""
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    pipeline = spacy.blank(_LANGUAGE)
    pipeline.add_pipe("custos_lemma_is_lower")
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": _LANGUAGE, "model_name": "blank"}])
    # NOTE: a loaded engine is never asked to load (and so download) its model.
    nlp_engine.nlp = {_LANGUAGE: pipeline}
    registry = RecognizerRegistry(supported_languages=[_LANGUAGE])
    for recognizer_class in _pattern_recognizer_classes():
        registry.add_recognizer(recognizer_class(supported_language=_LANGUAGE))
    analyzer = AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=[_LANGUAGE]
    )
    entities = frozenset(analyzer.get_supported_entities(language=_LANGUAGE))
    return _PiiDetector(analyzer=analyzer, entities=entities, lock=threading.Lock())


def _pattern_recognizer_classes() -> list[type]:
    """Presidio's generic and national recognizers: patterns and checksums, no models."""
    modules = ("generic", "country_specific")
    prefixes = tuple(f"{presidio_recognizers.__name__}.{module}." for module in modules)
    classes = [getattr(presidio_recognizers, name) for name in presidio_recognizers.__all__]
    found = [
        cls for cls in classes if isinstance(cls, type) and cls.__module__.startswith(prefixes)
    ]
    replaced = {
        presidio_recognizers.EmailRecognizer: _OfflineEmailRecognizer,
        presidio_recognizers.PhoneRecognizer: _PhoneRecognizer,
    }
    return [replaced.get(cls, cls) for cls in found]


_suffixes = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())


class _OfflineEmailRecognizer(presidio_recognizers.EmailRecognizer):
    """Presidio's, with the domain checked against the bundled public suffix list: the
    default fetches the list from the internet on first use."""

    def validate_result(self, pattern_text: str) -> bool:
        return _suffixes(pattern_text).fqdn != ""


PHONE_MIN_DIGITS = 7
# Between two digits of a number libphonenumber allows up to 4 of its punctuation marks: a
# non-word character, "x", or the katakana long vowel mark.
_PHONE_GAP = r"(?:\W|[xXー]){0,4}"
_PHONE_RUN = regex.compile(rf"\d(?:{_PHONE_GAP}\d){{{PHONE_MIN_DIGITS - 1},}}")
# What libphonenumber reads around a number: a "+" or "(" and the character before it, and
# an ":12" after it (which makes it a time).
_PHONE_MARGIN = 8


class _PhoneRecognizer(presidio_recognizers.PhoneRecognizer):
    """Presidio's, for numbers of at least PHONE_MIN_DIGITS digits."""

    # NOTE: libphonenumber is most of the cost of a check: for each of the 8 regions it parses
    # every group of digits ("54", "1000", "7.2"). So it reads only the runs of 7 or more
    # digits, with a margin either side; most prompts hold none. Shorter "numbers" are nearly
    # all false finds: many groups of 4 digits are valid German numbers.
    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        results = []
        for run in _PHONE_RUN.finditer(text):
            start = max(run.start() - _PHONE_MARGIN, 0)
            window = text[start : run.end() + _PHONE_MARGIN]
            for result in super().analyze(window, entities, nlp_artifacts):
                result.start, result.end = result.start + start, result.end + start
                if sum(c.isdigit() for c in text[result.start : result.end]) >= PHONE_MIN_DIGITS:
                    results.append(result)
        return results


@Language.component("custos_lemma_is_lower")
def _lemma_is_lower(doc):
    """Presidio's context words ("phone", "passport") are matched against lemmas, which a
    blank pipeline leaves empty."""
    for token in doc:
        token.lemma_ = token.lower_
    return doc


def image_guard_verdict(*, policy, labels: Iterable[tuple[str, float]]) -> PolicyVerdict:
    """The tenant's reading of what its guard model saw in an image: a guarded label scored
    at or above the threshold blocks the request or marks it sensitive. Raises on block."""
    found = {
        label
        for label, score in labels
        if label in policy.image_guard_labels and score >= policy.image_guard_threshold
    }
    blocked = sorted(label for label in found if policy.image_guard_labels[label] == "block")
    if blocked:
        raise ApiError(
            "content_policy_violation",
            "The image shows something this organisation's policy does not allow "
            f"({', '.join(blocked)}).",
        )
    return PolicyVerdict(sensitive=bool(found), findings=tuple(sorted(found)))
