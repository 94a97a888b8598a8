"""Check the audit trail's hash chain and signed checkpoints; exit 1 at the first break."""

from django.core.management.base import BaseCommand, CommandError

from compliance.services.audit import audit_chain_verify


class Command(BaseCommand):
    # NOTE: no system checks: they load the URLconf, and with it every model pool's code.
    requires_system_checks = []
    help = "Verify the audit trail: every hash link and every signed checkpoint."

    def handle(self, *args, **options):
        result = audit_chain_verify()
        if not result.ok:
            raise CommandError(f"broken at entry {result.first_broken_seq}: {result.problem}")
        self.stdout.write(
            f"ok: {result.entries_checked} entries, {result.checkpoints_checked} checkpoints"
        )
