"""Small policy classes, one question each."""

from rest_framework.permissions import BasePermission

from portal.roles import Role

INFERENCE_ROLES = (Role.END_USER, Role.API_USER, Role.ADMIN)


def user_can_run_inference(user) -> bool:
    """Belongs to a tenant and holds a role that may send data to models."""
    if not user.is_authenticated or user.tenant_id is None:
        return False
    return user.groups.filter(name__in=[str(role) for role in INFERENCE_ROLES]).exists()


class CanRunInference(BasePermission):
    message = "Your account may not run inference (no tenant, or a read-only role)."

    def has_permission(self, request, view) -> bool:
        return user_can_run_inference(request.user)


class IsAdmin(BasePermission):
    message = "Only administrators may see this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return user.is_authenticated and user.groups.filter(name=str(Role.ADMIN)).exists()
