"""Tenants and the people who act for them.

A user belongs to exactly one tenant; what a role may see of other tenants is an object
permission on the tenant (django-guardian), granted by the console.
"""

from django.contrib.auth.models import AbstractUser
from django.db import models


class Tenant(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Granted per tenant (django-guardian): which tenants an auditor may read, and which
        # a compliance officer may govern.
        permissions = [
            ("audit_tenant", "Can read the tenant's records (metadata only)"),
            ("govern_tenant", "Can manage the tenant's compliance settings and subject requests"),
        ]

    def __str__(self) -> str:
        return self.slug


class User(AbstractUser):
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
