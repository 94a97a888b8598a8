"""Erasure time for one heavy subject: 100,000 log rows, 10,000 archived exchanges and 1,000
cache entries, erased end to end through the store registry (target: under 5 s).

Run by bench/run.py in its scratch var/ after migrate; prints one JSON object.
"""

import json
import os
import sys
import time
from datetime import timedelta

LOG_ROWS, ARCHIVED, CACHED = 100_000, 10_000, 1_000
EXCHANGE = json.dumps({"input": {"prompt": "x" * 400}, "output": {"text": "y" * 400}}).encode()


def _fill(tenant, subject: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        RequestLog.objects.bulk_create(
            (
                RequestLog(
                    request_id=f"{index:032x}",
                    created_at=now - timedelta(seconds=index),
                    tenant=tenant,
                    subject=subject,
                    endpoint="/v1/chat/completions",
                    model="tiny-chat",
                    status_code=200,
                )
                for index in range(LOG_ROWS)
            ),
            batch_size=5_000,
        )
        ArchiveEntry.objects.bulk_create(
            (
                ArchiveEntry(
                    tenant=tenant,
                    subject=subject,
                    request_id=f"{index:032x}",
                    endpoint="/v1/chat/completions",
                    model="tiny-chat",
                    task="text-generation",
                    region="local",
                    sealed=content_seal(
                        subject=subject,
                        tenant_id=tenant.id,
                        plaintext=EXCHANGE,
                        context=f"archive:{index:032x}",
                    ),
                    size_bytes=len(EXCHANGE),
                    created_at=now,
                )
                for index in range(ARCHIVED)
            ),
            batch_size=1_000,
        )
    for index in range(CACHED):
        key = cache_key(tenant_id=tenant.id, model="tiny-chat", model_version="v", request=index)
        cache_store(
            tenant_id=tenant.id,
            key_digest=key,
            model="tiny-chat",
            subject=subject,
            payload=b"{}",
            ttl_seconds=3600,
            now=now,
        )


def main() -> None:
    tenant, _ = Tenant.objects.get_or_create(slug="bench-erasure", defaults={"name": "Bench"})
    subject = subject_pseudonym_get(tenant_id=tenant.id, reference="bench:heavy-subject")
    started = time.perf_counter()
    _fill(tenant, subject)
    fill_s = time.perf_counter() - started
    erasure = erasure_request_create(
        tenant_id=tenant.id,
        subject=subject,
        channel=ErasureRequest.Channel.OFFICER,
        requested_by_id=None,
        verified=True,
        now=timezone.now(),
    )
    started = time.perf_counter()
    done = erasure_execute(erasure_id=erasure.id)
    erase_s = time.perf_counter() - started
    left = sum(store.count(subject) for store in store_list())
    print(
        json.dumps(
            {
                "fill_s": fill_s,
                "erase_s": erase_s,
                "removed": done.removed,
                "left": left,
                "status": done.status,
            }
        )
    )


def erasure_table(results: dict) -> list[str]:
    removed = results["removed"]
    return [
        "## Erasure of one heavy subject",
        "",
        f"{LOG_ROWS:,} log rows, {ARCHIVED:,} archived exchanges and {CACHED:,} cache entries: "
        f"erased in **{results['erase_s']:.2f} s** (target: under 5 s); status "
        f"{results['status']}, {results['left']} rows left in any store. Removed: "
        + ", ".join(f"{name} {count:,}" for name, count in removed.items())
        + ". The key goes first, so the archive is unreadable from the first step; log rows "
        "are unlinked (one UPDATE), not deleted.",
        "",
    ]


if __name__ == "__main__":
    # NOTE: Django is set up here, not at import, so that bench/run.py can import the table
    # function without loading the portal against its own var/.
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from compliance.models import ArchiveEntry, ErasureRequest, RequestLog
    from compliance.services.cache import cache_key, cache_store
    from compliance.services.erasure import erasure_execute, erasure_request_create
    from compliance.services.keys import content_seal
    from compliance.services.subjects import subject_pseudonym_get
    from compliance.stores import store_list
    from portal.models import Tenant

    sys.exit(main())
