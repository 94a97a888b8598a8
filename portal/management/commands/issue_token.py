from django.core.management.base import BaseCommand, CommandError

from portal.models import User
from portal.services.accounts import token_issue


class Command(BaseCommand):
    help = "Print a new API token for USER (stored only as a digest: copy it now)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args, username: str, expires_days: int | None, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username}.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        self.stdout.write(token_issue(user=user, expires_days=expires_days))
