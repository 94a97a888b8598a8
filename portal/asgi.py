"""ASGI entry point: HTTP through Django, websockets through channels.

Model pools (and the PII analyzer) are loaded here, once per server process, so the first
request does not pay for loading them (INFERENCE_PRELOAD=false defers each pool to its first
request); at lifespan startup, jobs and erasures left unfinished by the previous run are
queued again.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

from asgiref.sync import sync_to_async  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from compliance.services.content_policy import content_policy_warm  # noqa: E402
from compliance.tasks import erasures_resume  # noqa: E402
from inference.jobs import jobs_resume  # noqa: E402
from inference.pipeline.engine import pools_start_all  # noqa: E402
from inference.routing import websocket_urlpatterns  # noqa: E402

if settings.INFERENCE_PRELOAD:
    pools_start_all()
    content_policy_warm()


async def lifespan(scope, receive, send) -> None:
    """Server start and stop (ASGI lifespan): jobs left waiting by the last run are queued
    again once the server is up (this needs the database, so it waits for startup)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if settings.JOBS_RESUME:
                await sync_to_async(jobs_resume, thread_sensitive=False)()
                await sync_to_async(erasures_resume, thread_sensitive=False)()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
        "lifespan": lifespan,
    }
)
