"""Template context every page needs: what the signed-in user may do."""

from portal.permissions import user_can_run_inference


def capabilities(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"can_run_inference": user_can_run_inference(user)}
