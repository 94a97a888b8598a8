from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Set up everything serving needs, idempotently and in one start of Django: the "
        "database, static files, the default models and the demo accounts."
    )

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("build_default_models", stdout=self.stdout)
        call_command("seed_demo", stdout=self.stdout)
