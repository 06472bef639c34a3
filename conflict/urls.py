"""URLs of the whole site: public pages, the API, and the staff admin."""

from django.contrib import admin
from django.urls import include, path

from conflict.env import env_str

ADMIN_PATH = env_str("DJANGO_ADMIN_PATH", "admin/").strip("/") + "/"

urlpatterns = [
    path(ADMIN_PATH, admin.site.urls),
    path("api/v1/", include("timeline.api.urls")),
    path("", include("timeline.urls")),
]

handler404 = "timeline.views.page_not_found"
handler500 = "timeline.views.server_error"
