from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from portal.models import Tenant, User


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = ["username", "tenant", "is_staff", "is_active"]
    list_filter = ["tenant", "groups", "is_active"]
    fieldsets = UserAdmin.fieldsets + (("Tenant", {"fields": ["tenant"]}),)
