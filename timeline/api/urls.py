"""URLs of the API, mounted at /api/v1/ with the namespace ``api``."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from timeline.api import views

app_name = "api"

router = SimpleRouter()
router.register("events", views.EventViewSet, basename="event")
router.register("districts", views.DistrictViewSet, basename="district")
router.register("parties", views.PartyViewSet, basename="party")
router.register("sources", views.SourceViewSet, basename="source")
router.register("agreements", views.AgreementViewSet, basename="agreement")
router.register("deadlines", views.DeadlineViewSet, basename="deadline")
router.register("handovers", views.HandoverViewSet, basename="handover")
router.register("provisions", views.ProvisionViewSet, basename="provision")
router.register("changes", views.ChangeViewSet, basename="change")

urlpatterns = [
    path("", views.RootView.as_view(), name="root"),
    path("auth/token/", views.StaffTokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("", include(router.urls)),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not-found"),
]
