"""`manage.py enforce_retention`: run retention once, with a progress bar and a summary.

Thin: the work is compliance.services.retention.retention_enforce. A real run first counts
what is due (a dry run at the same `now`), so that the bar has an end.
"""

from argparse import ArgumentTypeError

from django.core.management.base import BaseCommand
from django.utils import timezone

from compliance.services.retention import RetentionReport, retention_enforce

BAR_WIDTH = 30


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ArgumentTypeError("must be 1 or more")
    return number


class _Progress:
    """A bar redrawn in place on a terminal; through a pipe (cron, systemd's journal), a plain
    line at every tenth of the way, so that logs stay short."""

    def __init__(self, stdout, *, total: int):
        self.stdout = stdout
        self.total = max(total, 1)
        self.done = 0
        self.tty = stdout.isatty()
        self.tenths_shown = 0

    def advance(self, label: str, rows: int) -> None:
        # NOTE: rows can still be erased between the count and the run, never added (`now`
        # is the same), so the bar is capped rather than trusted to land on 100%.
        self.done = min(self.done + rows, self.total)
        line = f"{self.done / self.total:4.0%} {self.done:,}/{self.total:,} rows  {label}"
        if self.tty:
            filled = BAR_WIDTH * self.done // self.total
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.stdout.write(f"\r[{bar}] {line}\x1b[K", ending="")
            self.stdout.flush()
        elif (tenths := 10 * self.done // self.total) > self.tenths_shown:
            self.tenths_shown = tenths
            self.stdout.write(line)

    def finish(self) -> None:
        if self.tty and self.done:
            self.stdout.write("")


class Command(BaseCommand):
    # NOTE: no system checks: they load the URLconf, and with it every model pool's code.
    requires_system_checks = []
    help = (
        "Delete every class of data (request logs, archive, cache, jobs, receipts, audit "
        "trail) once it is older than its tenant's retention rule, or the deployment default, "
        "and expired API tokens. The embedded deployment runs this periodically from cron or "
        "a systemd timer (daily is enough, e.g. `15 3 * * * manage.py enforce_retention`); "
        "it works in short batches, so it is safe while the portal serves."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted, delete nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=None,
            help="Rows per delete transaction (default: settings.RETENTION_BATCH_SIZE).",
        )

    def handle(self, *args, dry_run: bool, batch_size: int | None, **options):
        now = timezone.now()
        report = retention_enforce(now=now, dry_run=True, batch_size=batch_size)
        if not dry_run:
            progress = _Progress(self.stdout, total=report.total)
            report = retention_enforce(now=now, batch_size=batch_size, on_progress=progress.advance)
            progress.finish()
        self._summary(report)

    def _summary(self, report: RetentionReport) -> None:
        heading = "would delete" if report.dry_run else "deleted"
        rows = [("tenant", "class", heading)] + [
            (tenant, data_class, f"{count:,}")
            for (tenant, data_class), count in sorted(report.deleted.items())
            if count
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for tenant, data_class, count in rows:
            self.stdout.write(
                f"{tenant:<{widths[0]}}  {data_class:<{widths[1]}}  {count:>{widths[2]}}"
            )
        self.stdout.write(
            f"{heading} {report.total:,} rows in {report.seconds:.1f} s"
            + ("" if report.dry_run else f"; longest transaction {report.longest_batch_s:.3f} s")
        )
