"""`manage.py rotate_master_key [--retire]`: put a new master key in front and re-wrap every
data key under it; with --retire, then drop the master keys nothing is wrapped by any more.

Thin: the work is compliance.services.keys. Prints key ids and counts, never key material.
"""

from argparse import ArgumentTypeError

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compliance.services.keys import master_key_rotate, master_keys_retire


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ArgumentTypeError("must be 1 or more")
    return number


class Command(BaseCommand):
    # NOTE: no system checks: they load the URLconf, and with it every model pool's code.
    requires_system_checks = []
    help = (
        "Rotate the master key. With the keyring file (var/master_keys) a new key is "
        "generated; with PORTAL_MASTER_KEYS, put the new key first and keep the old ones "
        "after it until this has run. Every data key is then re-wrapped under the newest "
        "key, in batches. --retire then removes from the keyring file the keys that wrap "
        "nothing any more: backups made before the rotation no longer open."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--retire",
            action="store_true",
            help="Afterwards, drop master keys no data key is wrapped by (keyring file only).",
        )
        parser.add_argument(
            "--batch-size", type=_positive, default=500, help="Data keys per transaction."
        )

    def handle(self, *args, retire: bool, batch_size: int, **options):
        if retire and settings.MASTER_KEYS:
            raise CommandError(
                "--retire works on the keyring file; with PORTAL_MASTER_KEYS, remove the old "
                "key from the variable once this has run."
            )
        report = master_key_rotate(batch_size=batch_size)
        self.stdout.write(
            f"Master key {report.master_key_id} ({report.keyring} keyring) is the newest; "
            f"re-wrapped {report.rewrapped:,} data keys under it."
        )
        if retire:
            retired = master_keys_retire()
            listed = f": {', '.join(retired)}" if retired else ""
            self.stdout.write(f"Retired {len(retired)} master keys{listed}.")
