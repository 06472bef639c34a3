from django.urls import include, path
from rest_framework.routers import DefaultRouter

from bench.naive import views

router = DefaultRouter()
router.register("events", views.EventViewSet, basename="event")
router.register("districts", views.DistrictViewSet, basename="district")
router.register("handovers", views.HandoverViewSet, basename="handover")

urlpatterns = [path("api/v1/", include(router.urls))]

# The project's 500 page links to its own pages, which this urlconf does not have.
handler500 = "rest_framework.exceptions.server_error"
