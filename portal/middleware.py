"""Cross-cutting HTTP concerns: request ids, security headers, and the API error envelope.

Each middleware works in both sync and async mode, so an async view (the inference API) is
never pushed through a thread by the middleware chain.
"""

import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.utils.module_loading import import_string

from portal.errors import ApiError, api_error_from_exception, error_json_response

API_PREFIXES = ("/v1/", "/api/")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


class _Middleware:
    """Calls `process(request, response)` after the view, in sync or async mode."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        self.before(request)
        try:
            response = self.get_response(request)
        except Exception as exc:  # noqa: BLE001 - rendered by `failed`
            response = self.failed(request, exc)
        return self.process(request, response)

    async def _acall(self, request):
        self.before(request)
        try:
            response = await self.get_response(request)
        except Exception as exc:  # noqa: BLE001 - rendered by `failed`
            response = self.failed(request, exc)
        return self.process(request, response)

    def before(self, request) -> None:
        pass

    def failed(self, request, exc: Exception):
        raise exc

    def process(self, request, response):
        return response


class RequestIdMiddleware(_Middleware):
    """Every request gets an id; the response and its log row carry it."""

    def before(self, request) -> None:
        request.request_id = uuid.uuid4().hex

    def process(self, request, response):
        response["X-Request-ID"] = request.request_id
        return response


class ContentSecurityPolicyMiddleware(_Middleware):
    """A strict CSP on every page: scripts and styles only from this server."""

    def process(self, request, response):
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.setdefault("Permissions-Policy", "camera=(), geolocation=(), microphone=(self)")
        return response


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


class ApiErrorMiddleware(_Middleware):
    """API paths never answer with an HTML page or a stack trace, whatever failed."""

    def failed(self, request, exc: Exception):
        if not _is_api(request):
            raise exc
        return error_json_response(api_error_from_exception(exc))

    def process(self, request, response):
        if not _is_api(request) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        code = {404: "not_found", 405: "invalid_request", 413: "payload_too_large"}.get(
            response.status_code,
            "invalid_request" if response.status_code < 500 else "internal_error",
        )
        messages = {
            "not_found": "No such endpoint.",
            "invalid_request": "The request was not valid for this endpoint.",
            "payload_too_large": "The request body is larger than this server accepts.",
            "internal_error": "The server failed to process the request.",
        }
        return error_json_response(ApiError(code, messages[code], status=response.status_code))


class BrowserMiddleware:
    """Runs settings.BROWSER_MIDDLEWARE (sessions, CSRF, messages...) except on /v1/.

    /v1/ is token-only, and Django runs each classic middleware's hooks through the one
    thread-sensitive thread under ASGI: a dozen thread hops per request that every concurrent
    API request queued behind (measured: the ceiling of /v1 throughput). Browser pages and
    /api/ (usable with a session) keep the whole stack.
    """

    sync_capable = True
    async_capable = True
    SKIPPED_PREFIX = "/v1/"

    def __init__(self, get_response):
        self.get_response = get_response
        self.browser_chain = get_response
        for path in reversed(settings.BROWSER_MIDDLEWARE):
            self.browser_chain = import_string(path)(self.browser_chain)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        chain = self.get_response if request.path.startswith(self.SKIPPED_PREFIX) else None
        return (chain or self.browser_chain)(request)
