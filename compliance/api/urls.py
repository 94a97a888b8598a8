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
urlpatterns += console.urlpatterns
