"""Per-tenant policies: where data may be served, what may be stored, what is refused, and
how long each class of data is kept. Every change to them goes through a service that
appends an audit entry."""

from django.db import models


class TenantPolicy(models.Model):
    """One per tenant, created with defaults on first read (services/policy.py)."""

    tenant = models.OneToOneField("portal.Tenant", on_delete=models.CASCADE, related_name="policy")
    allowed_regions = models.JSONField(
        default=list,
        blank=True,
        help_text="Regions this tenant's data may be served in; empty: any.",
    )
    zero_retention = models.BooleanField(
        default=False, help_text="Store nothing but metadata logs: no cache, no archive."
    )
    archive_enabled = models.BooleanField(
        default=False, help_text="Keep an encrypted copy of each exchange (input and output)."
    )
    cache_models = models.JSONField(
        default=list,
        blank=True,
        help_text='Models whose deterministic outputs are cached; "*": all.',
    )
    cache_ttl_seconds = models.PositiveIntegerField(default=86_400)
    pii_actions = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "PII entity to action (block, sensitive or off). Unnamed, the five core entities "
            "(e-mail, phone, IBAN, card, IP address) are sensitive and the rest are off."
        ),
    )
    image_guard_model = models.CharField(
        max_length=100,
        blank=True,
        help_text="An image-classification model of the catalogue that checks every image a "
        "request brings or makes; blank: none.",
    )
    image_guard_labels = models.JSONField(
        default=dict, blank=True, help_text="The guard's label to action (block or sensitive)."
    )
    image_guard_threshold = models.FloatField(
        default=0.5, help_text="The score from which a guarded label counts."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"policy of {self.tenant}"


class Action(models.TextChoices):
    BLOCK = "block"  # refused with content_policy_violation before any model runs
    SENSITIVE = "sensitive"  # served, but never cached or archived


class ContentRule(models.Model):
    """A tenant's own rule: a term (whole words, any case) or a regular expression, such as
    a national identifier's pattern."""

    class Kind(models.TextChoices):
        TERM = "term"
        PATTERN = "pattern"

    tenant = models.ForeignKey(
        "portal.Tenant", on_delete=models.CASCADE, related_name="content_rules"
    )
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=500)
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.BLOCK)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="content_rule_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.name} ({self.action})"


class DataClass(models.TextChoices):
    REQUEST_LOGS = "request_logs"
    ARCHIVE = "archive"
    CACHE = "cache"
    JOBS = "jobs"
    RECEIPTS = "receipts"
    AUDIT_TRAIL = "audit_trail"


class RetentionRule(models.Model):
    """How many days a tenant keeps one class of data; a class without a rule keeps the
    deployment default (settings.RETENTION_DEFAULT_DAYS)."""

    tenant = models.ForeignKey(
        "portal.Tenant", on_delete=models.CASCADE, related_name="retention_rules"
    )
    data_class = models.CharField(max_length=16, choices=DataClass.choices)
    days = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "data_class"], name="retention_rule_unique_class"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.data_class} {self.days} days"
