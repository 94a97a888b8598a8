"""`verify_receipt FILE [--public-key PEM]`: is this erasure receipt exactly as signed?"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.services.erasure import receipt_verify


class Command(BaseCommand):
    # NOTE: no system checks: they load the URLconf, and with it every model pool's code.
    requires_system_checks = []
    help = (
        "Check the Ed25519 signature of an erasure receipt (the JSON file a subject "
        "downloaded), with this deployment's key or a public key given as a PEM file."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--public-key", type=Path, help="PEM file of the signing key")

    def handle(self, *args, file: Path, public_key: Path | None, **options):
        try:
            document = json.loads(file.read_text())
            pem = public_key.read_text() if public_key else None
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the receipt: {type(exc).__name__}") from None
        if not isinstance(document, dict) or not receipt_verify(document, public_key_pem=pem):
            raise CommandError("INVALID: this receipt was changed or not signed by this key.")
        receipt = document["receipt"]
        self.stdout.write(
            f"valid: erasure {receipt['erasure_request']} of subject {receipt['subject']}, "
            f"completed {receipt['completed_at']}"
        )
