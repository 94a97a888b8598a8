"""One error envelope everywhere, in OpenAI's shape so its clients can read it.

`{"error": {"message", "type", "param", "code"}}` with the stable codes of DESIGN.md. Messages
describe what was wrong with the request, never what it contained: no prompt, output or
file content ever appears in an error.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)

# code -> (HTTP status, OpenAI error type)
ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "invalid_request_error"),
    "payload_too_large": (413, "invalid_request_error"),
    "unsupported_media_type": (415, "invalid_request_error"),
    "invalid_image": (400, "invalid_request_error"),
    "image_too_large": (400, "invalid_request_error"),
    "invalid_audio": (400, "invalid_request_error"),
    "audio_too_long": (400, "invalid_request_error"),
    "invalid_text": (400, "invalid_request_error"),
    "context_length_exceeded": (400, "invalid_request_error"),
    "content_policy_violation": (400, "invalid_request_error"),
    "residency_violation": (403, "permission_error"),
    "model_not_found": (404, "not_found_error"),
    "authentication_required": (401, "authentication_error"),
    "permission_denied": (403, "permission_error"),
    "not_found": (404, "not_found_error"),
    "retention_conflict": (409, "invalid_request_error"),
    "rate_limited": (429, "rate_limit_error"),
    "capacity_exceeded": (503, "server_error"),
    "service_unavailable": (503, "server_error"),
    "internal_error": (500, "server_error"),
}


class ApiError(Exception):
    """A failure with a stable code; raised anywhere, rendered once at the edge."""

    recorded = False  # set once the request log holds this failure

    def __init__(
        self, code: str, message: str, *, param: str | None = None, status: int | None = None
    ):
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.status = status or ERROR_CODES[code][0]

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": ERROR_CODES[self.code][1],
                "param": self.param,
                "code": self.code,
            }
        }


def _first_validation_error(detail, path: str = "") -> tuple[str, str]:
    """The dotted path and message of the first field error in a DRF ValidationError."""
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        field = "" if key == "non_field_errors" else str(key)
        return _first_validation_error(value, f"{path}.{field}".strip(".") if field else path)
    if isinstance(detail, list) and detail:
        first_index = next((i for i, item in enumerate(detail) if item), 0)
        item = detail[first_index]
        if isinstance(item, (dict, list)):
            return _first_validation_error(item, f"{path}.{first_index}".strip("."))
        return path, str(item)
    return path, str(detail)


def api_error_from_exception(exc: Exception) -> ApiError:
    """Translate any exception into the envelope's terms."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, exceptions.ValidationError):
        param, message = _first_validation_error(exc.detail)
        text = f"{param}: {message}" if param else message
        return ApiError("invalid_request", text, param=param or None)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return ApiError("authentication_required", str(exc.detail))
    if isinstance(exc, (exceptions.PermissionDenied, PermissionDenied)):
        return ApiError("permission_denied", "You do not have permission to do this.")
    if isinstance(exc, (exceptions.NotFound, Http404)):
        return ApiError("not_found", "Not found.")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return ApiError("unsupported_media_type", str(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        return ApiError("rate_limited", "Too many requests; retry later.")
    if isinstance(exc, RequestDataTooBig):
        return ApiError("payload_too_large", "The request body is larger than this server accepts.")
    if isinstance(exc, (exceptions.ParseError, SuspiciousOperation)):
        return ApiError("invalid_request", "The request body could not be parsed.")
    if isinstance(exc, exceptions.MethodNotAllowed):
        return ApiError("invalid_request", str(exc.detail), status=405)
    if isinstance(exc, exceptions.APIException):
        return ApiError("invalid_request", str(exc.detail))
    log_internal_error(exc)
    return ApiError("internal_error", "The server failed to process the request.")


def log_internal_error(exc: BaseException) -> None:
    """Log where an unexpected failure happened; the log filter withholds its message."""
    logger.error("internal error", exc_info=exc)


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: every API failure leaves in the envelope."""
    error = api_error_from_exception(exc)
    headers = {}
    if error.code == "authentication_required":
        headers["WWW-Authenticate"] = 'Bearer realm="custos"'
    return Response(error.body(), status=error.status, headers=headers)


def error_json_response(error: ApiError) -> JsonResponse:
    return JsonResponse(error.body(), status=error.status)
