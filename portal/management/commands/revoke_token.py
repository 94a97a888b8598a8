from django.core.management.base import BaseCommand, CommandError

from portal.models import User
from portal.services.accounts import token_revoke


class Command(BaseCommand):
    help = "Revoke USER's token whose first characters are KEY, or all of USER's tokens."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--key", default=None, help="the token's first 15 characters")

    def handle(self, *args, username: str, key: str | None, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username}.")
        count = token_revoke(user=user, token_key=key)
        self.stdout.write(f"Revoked {count} token(s).")
