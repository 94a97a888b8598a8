from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal: accounts, tenants, roles, tokens"

    def ready(self):
        from portal import schema  # noqa: F401 - registers the OpenAPI auth extension
