"""The pipeline without HTTP: concurrent callers of the services in one process.

Run by bench/run.py in its scratch var/ (PORTAL_VAR_DIR): validate, preprocess, the engine,
delivery and the log write, as the views call them, minus Django's request cycle, DRF and the
client. The difference to the HTTP rows is what the web stack costs. Prints one line:
`<clients> <requests> <seconds> <tokens> <latency_s,...>`.
"""

import asyncio
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from inference.pipeline.engine import pools_start_all  # noqa: E402
from inference.pipeline.validate import Caller, GenerationPayload  # noqa: E402
from inference.services import generation_start  # noqa: E402
from portal.models import Tenant  # noqa: E402


async def drive(clients: int, per_client: int, prompt: str, max_tokens: int) -> None:
    tenant = await Tenant.objects.aget(slug="demo")
    latencies, tokens = [], 0

    async def client(number: int) -> None:
        nonlocal tokens
        for request in range(per_client + 1):  # the first one warms up
            caller = Caller(
                request_id=f"bench-{number}-{request}",
                user_id=0,
                tenant=tenant,
                subject_reference="bench",
                endpoint="bench",
            )
            payload = GenerationPayload(
                model="tiny-chat", prompt=prompt, max_tokens=max_tokens, temperature=0
            )
            started = time.perf_counter()
            delivery = await (await generation_start(caller=caller, payload=payload)).complete()
            if request:
                latencies.append(time.perf_counter() - started)
                tokens += delivery.completion_tokens

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    seconds = time.perf_counter() - started
    print(clients, len(latencies), seconds, tokens, ",".join(f"{v:.6f}" for v in latencies))


if __name__ == "__main__":
    clients, per_client, max_tokens = (int(v) for v in sys.argv[1:4])
    pools_start_all()  # as the server does at start
    asyncio.run(drive(clients, per_client, sys.argv[4], max_tokens))
