from django.urls import path

from compliance.api import console, subject

urlpatterns = [
    path("me/erasure", subject.MyErasureApi.as_view(), name="api-me-erasure"),
    path(
        "me/erasure/<uuid:erasure_id>",
        subject.MyErasureDetailApi.as_view(),
        name="api-me-erasure-detail",
    ),
    path("me/export", subject.MyExportApi.as_view(), name="api-me-export"),
    path("receipts/public-key", subject.ReceiptPublicKeyApi.as_view(), name="api-receipts-key"),
]
urlpatterns += [
    path("compliance/tenants", console.TenantListApi.as_view(), name="api-compliance-tenants"),
    path(
        "compliance/tenants/<slug:slug>/policy",
        console.PolicyDetailUpdateApi.as_view(),
        name="api-compliance-policy",
    ),
    path(
        "compliance/tenants/<slug:slug>/content-rules",
        console.ContentRuleListCreateApi.as_view(),
        name="api-compliance-content-rules",
    ),
    path(
        "compliance/tenants/<slug:slug>/content-rules/<int:rule_id>",
        console.ContentRuleDeleteApi.as_view(),
        name="api-compliance-content-rule",
    ),
    path(
        "compliance/tenants/<slug:slug>/retention",
        console.RetentionDetailUpdateApi.as_view(),
        name="api-compliance-retention",
    ),
    path(
        "compliance/request-logs",
        console.RequestLogListApi.as_view(),
        name="api-compliance-request-logs",
    ),
    path("compliance/cache", console.CacheInventoryListApi.as_view(), name="api-compliance-cache"),
    path(
        "compliance/cache/purge", console.CachePurgeApi.as_view(), name="api-compliance-cache-purge"
    ),
    path(
        "compliance/archive", console.ArchiveEntryListApi.as_view(), name="api-compliance-archive"
    ),
    path(
        "compliance/archive/<int:entry_id>/read",
        console.ArchiveEntryReadApi.as_view(),
        name="api-compliance-archive-read",
    ),
    path(
        "compliance/erasure-requests",
        console.ErasureRequestListCreateApi.as_view(),
        name="api-compliance-erasure-requests",
    ),
    path(
        "compliance/erasure-requests/<uuid:erasure_id>",
        console.ErasureRequestDetailApi.as_view(),
        name="api-compliance-erasure-request",
    ),
    path("compliance/audit", console.AuditEntryListApi.as_view(), name="api-compliance-audit"),
    path(
        "compliance/audit/verify",
        console.AuditChainVerifyApi.as_view(),
        name="api-compliance-audit-verify",
    ),
    path(
        "compliance/keys/rotate",
        console.MasterKeyRotateApi.as_view(),
        name="api-compliance-keys-rotate",
    ),
]
