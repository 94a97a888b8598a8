"""Retention over a million request logs: how long `retention_enforce` takes, and how long its
longest delete transaction holds the database.

Inserts 1,000,000 request logs past their retention and 10,000 within it (one second to a day
younger than the cutoff), runs retention once with the deployment's batch size, and checks
that exactly the young rows are left. Targets: under 60 s in all, no single transaction over
1 s (SQLite has one writer: a longer one would stall requests). Run by bench/run.py in its
scratch var/, already migrated; prints one JSON object as its last line.
"""

import json
import os
import time
from datetime import datetime, timedelta

EXPIRED = 1_000_000
YOUNG = 10_000
INSERT_CHUNK = 100_000  # rows per insert transaction
TARGET_S = 60.0
TARGET_TRANSACTION_S = 1.0


def _insert(tenant, *, first: datetime, step: timedelta, count: int, prefix: str) -> None:
    """`count` request logs from `first` on, `step` apart, written with executemany in a few
    transactions: the ORM would take minutes here."""
    from django.db import connection, transaction

    from compliance.models import RequestLog

    template = RequestLog(
        request_id="",
        created_at=first,
        tenant=tenant,
        endpoint="/v1/chat/completions",
        model="tiny-chat",
        modality=RequestLog.Modality.TEXT,
        task="text-generation",
        status_code=200,
        prompt_tokens=17,
        completion_tokens=16,
        region="local",
        device="cpu",
    )
    fields = [field for field in RequestLog._meta.concrete_fields if not field.primary_key]
    values = [
        field.get_db_prep_save(getattr(template, field.attname), connection) for field in fields
    ]
    names = [field.attname for field in fields]
    at, request_id = names.index("created_at"), names.index("request_id")
    created_at = RequestLog._meta.get_field("created_at")
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(RequestLog._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    for start in range(0, count, INSERT_CHUNK):
        rows = []
        for number in range(start, min(start + INSERT_CHUNK, count)):
            values[at] = created_at.get_db_prep_save(first + number * step, connection)
            values[request_id] = f"{prefix}{number:x}"
            rows.append(tuple(values))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def run() -> dict:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from compliance.models import RequestLog
    from compliance.services.retention import retention_enforce
    from portal.models import Tenant

    now = timezone.now()
    cutoff = now - timedelta(days=settings.RETENTION_DEFAULT_DAYS["request_logs"])
    tenant = Tenant.objects.create(slug="bench-retention", name="Retention benchmark")
    started = time.perf_counter()
    second = timedelta(seconds=1)
    _insert(tenant, first=cutoff - second, step=-second, count=EXPIRED, prefix="old")
    _insert(tenant, first=cutoff + second, step=8 * second, count=YOUNG, prefix="young")
    insert_s = time.perf_counter() - started
    report = retention_enforce(now=now)
    left = RequestLog.objects.filter(tenant=tenant)
    return {
        "rows": EXPIRED,
        "young": YOUNG,
        "insert_s": insert_s,
        "deleted": report.deleted[(tenant.slug, "request_logs")],
        "seconds": report.seconds,
        "rows_per_s": report.deleted[(tenant.slug, "request_logs")] / report.seconds,
        "longest_transaction_s": report.longest_batch_s,
        "batch_size": settings.RETENTION_BATCH_SIZE,
        "young_kept": left.filter(created_at__gt=cutoff).count(),
        "expired_left": left.filter(created_at__lt=cutoff).count(),
        "database": connection.vendor,
    }


def retention_table(results: dict) -> list[str]:
    """The retention section of bench/RESULTS.md."""
    met = (
        results["seconds"] < TARGET_S
        and results["longest_transaction_s"] < TARGET_TRANSACTION_S
        and results["young_kept"] == results["young"]
        and results["expired_left"] == 0
    )
    return [
        "## Retention: a million expired request logs",
        "",
        "| rows deleted | seconds | rows/s | longest transaction | batch | young rows kept | "
        "target met |",
        "|---|---|---|---|---|---|---|",
        f"| {results['deleted']:,} | {results['seconds']:.1f} | {results['rows_per_s']:,.0f} | "
        f"{results['longest_transaction_s'] * 1000:.0f} ms | {results['batch_size']:,} | "
        f"{results['young_kept']:,} of {results['young']:,} | {'yes' if met else 'no'} |",
        "",
        f"`retention_enforce` on {results['database']}, over {results['rows']:,} request logs "
        f"past their retention and {results['young']:,} from one second to a day younger than "
        f"the cutoff. Target: under {TARGET_S:.0f} s in all and no delete transaction over "
        f"{TARGET_TRANSACTION_S:.0f} s, with every young row kept.",
        "",
    ]


if __name__ == "__main__":
    # NOTE: Django is set up here, not at import, so that bench/run.py can import
    # retention_table without loading the whole portal.
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    print(json.dumps(run()))
