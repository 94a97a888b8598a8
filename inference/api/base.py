"""What every inference endpoint shares: async dispatch, the caller, and the failure record."""

from inspect import iscoroutine

from adrf.views import APIView
from rest_framework.request import Request

from compliance.services.subjects import subject_reference
from inference.pipeline.validate import Caller
from inference.services import request_failure_record
from portal.db import in_thread
from portal.permissions import CanRunInference


def caller_from_request(
    request: Request, *, endpoint: str, end_user: str | None, store: bool | None = None
) -> Caller:
    """The caller; an API user acting for someone names them in `user`, making them the subject."""
    user = request.user
    reference = subject_reference(user_id=user.id, end_user=end_user)
    return Caller(
        request_id=request._request.request_id,
        user_id=user.id,
        tenant=user.tenant,
        subject_reference=reference,
        endpoint=endpoint,
        request_bytes=int(request.META.get("CONTENT_LENGTH") or 0),
        store=store,
    )


class InferenceApiView(APIView):
    """An async DRF view whose every refusal, whatever raised it, leaves one log row."""

    permission_classes = [CanRunInference]
    endpoint = ""

    def initial(self, request, *args, **kwargs):
        """Authenticate and check permissions (sync, off the loop), then load the tenant."""
        super().initial(request, *args, **kwargs)
        request.user.tenant  # noqa: B018 - fetched here so async code never queries it

    def handle_exception(self, exc):
        self._failure_recorded = getattr(exc, "recorded", False)
        return super().handle_exception(exc)

    async def _dispatch(self, request, *args, **kwargs):
        """adrf's async dispatch, with `initial` (authentication, permissions: database
        reads) on a worker thread of its own instead of the single thread-sensitive one."""
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            await in_thread(self.initial)(request, *args, **kwargs)
            method = request.method.lower()
            if method not in self.http_method_names:
                self.http_method_not_allowed(request)  # raises MethodNotAllowed
            handler = getattr(self, method, self.http_method_not_allowed)
            response = handler(request, *args, **kwargs)  # `options` is DRF's, synchronous
            if iscoroutine(response):
                response = await response
        except Exception as exc:  # noqa: BLE001 - DRF renders every failure
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    async def async_dispatch(self, request, *args, **kwargs):
        response = await self._dispatch(request, *args, **kwargs)
        if response.status_code >= 400 and not getattr(self, "_failure_recorded", False):
            await request_failure_record(
                request_id=request.request_id,
                endpoint=self.endpoint,
                status_code=response.status_code,
                error_code=response.data["error"]["code"],
                user=getattr(getattr(self, "request", None), "_user", None),
                request_bytes=int(request.META.get("CONTENT_LENGTH") or 0),
            )
        return response

    def caller(
        self, request: Request, *, end_user: str | None = None, store: bool | None = None
    ) -> Caller:
        return caller_from_request(request, endpoint=self.endpoint, end_user=end_user, store=store)
