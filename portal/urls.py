from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from compliance import views as compliance_views
from inference import views as inference_views
from inference.api.urls import native_urlpatterns, openai_urlpatterns
from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("history/", views.history, name="history"),
    path("me/data/", compliance_views.my_data, name="my-data"),
    path("me/data/export", compliance_views.my_data_export, name="my-data-export"),
    path("me/data/erase", compliance_views.my_data_erase, name="my-data-erase"),
    path(
        "me/data/erasure/<uuid:erasure_id>/receipt",
        compliance_views.my_erasure_receipt,
        name="my-erasure-receipt",
    ),
    path("text/", inference_views.text_page, name="text"),
    path("images/classify/", inference_views.image_classify_page, name="image-classify"),
    path("images/generate/", inference_views.image_generate_page, name="image-generate"),
    path("audio/", inference_views.audio_page, name="audio"),
    path("admin/", admin.site.urls),
    path("v1/", include(openai_urlpatterns)),
    path("api/v1/", include(native_urlpatterns)),
    path("api/v1/", include("compliance.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]
