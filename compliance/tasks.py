"""Work that runs after the request that asked for it: erasures. Thin: ids in, a service
called. In the embedded deployment a small thread pool of the server process runs it; a
stopped server's unfinished erasures are resumed at the next start."""

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from uuid import UUID

from django.db import close_old_connections

from compliance.services.erasure import erasure_execute, erasures_pending

logger = logging.getLogger(__name__)


@cache
def _executor() -> ThreadPoolExecutor:
    # NOTE: one worker: erasures are rare, and one at a time never contend for the same rows.
    return ThreadPoolExecutor(1, thread_name_prefix="erasure")


def _erasure_run(erasure_id: UUID) -> None:
    try:
        erasure_execute(erasure_id=erasure_id)
    except Exception:  # the request is marked failed, with its reason, and can be resumed
        logger.exception("erasure %s failed", erasure_id)
    finally:
        close_old_connections()


def erasure_run_later(erasure_id: UUID) -> None:
    _executor().submit(_erasure_run, erasure_id)


def erasures_resume() -> int:
    """At server start: run again the erasures a stopped server left unfinished."""
    pending = erasures_pending()
    for erasure_id in pending:
        erasure_run_later(erasure_id)
    return len(pending)
