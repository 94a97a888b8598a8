"""Query-string values shared by the list APIs of every app."""

from portal.errors import ApiError


def query_int(request, name: str, default: int | None) -> int | None:
    """A non-negative integer parameter, or `default` when absent; anything else is refused."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ApiError("invalid_request", f"{name} must be a non-negative integer.", param=name)
    return int(raw)
