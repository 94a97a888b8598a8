"""ASGI entry point: HTTP through Django, websockets through channels.

Model pools are loaded here, once per server process, so the first request does not pay for
loading weights (INFERENCE_PRELOAD=false defers each pool to its first request).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from inference.pipeline.engine import pools_start_all  # noqa: E402
from inference.routing import websocket_urlpatterns  # noqa: E402

if settings.INFERENCE_PRELOAD:
    pools_start_all()

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
