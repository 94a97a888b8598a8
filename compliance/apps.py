from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance: records, policies, keys, cache, archive, erasure, audit"

    def ready(self) -> None:
        from compliance.signals import signals_connect
        from compliance.stores import register_compliance_stores

        register_compliance_stores()
        signals_connect()
