from django.core.management.base import BaseCommand

from portal.services.demo import demo_credentials_path, demo_seed


class Command(BaseCommand):
    help = "Create tenant `demo` with one account per role (prints the credentials once)."

    def handle(self, *args, **options):
        credentials = demo_seed()
        path = demo_credentials_path()
        if credentials is None:
            self.stdout.write(f"Demo accounts exist; their credentials are in {path}.")
            return
        self.stdout.write(self.style.SUCCESS("Demo accounts created (tenant `demo`):"))
        for username, entry in credentials.items():
            self.stdout.write(f"  {username:<14} {entry['password']:<20} {entry['role']}")
        self.stdout.write(f"Saved to {path} (readable by you only).")
