from django.contrib.sitemaps.views import sitemap
from django.urls import path, re_path

from timeline import feeds, views
from timeline.sitemaps import SITEMAPS

app_name = "timeline"

urlpatterns = [
    path("", views.home, name="home"),
    path("timeline.json", views.timeline_visual, name="visual"),
    path("events/<slug:slug>/", views.event_detail, name="event-detail"),
    path("districts/", views.district_list, name="district-list"),
    path("districts/<slug:slug>/", views.district_detail, name="district-detail"),
    path("agreements/", views.agreement_list, name="agreement-list"),
    path("agreements/<slug:slug>/", views.agreement_detail, name="agreement-detail"),
    path("handovers/", views.handover_list, name="handover-list"),
    path("feeds/events.atom", feeds.EventsFeed(), name="feed-events"),
    path("feeds/deadlines.ics", feeds.deadlines_ics, name="feed-deadlines"),
    path("feeds/changes.atom", views.ChangesFeed(), name="feed-changes"),
    path("data/releases/", views.release_list, name="release-list"),
    re_path(r"^data/releases/(?P<version>[0-9]+(?:\.[0-9]+){1,2})\.json$", views.release_download, name="release-download"),
    path("healthz", views.healthz, name="healthz"),
    path("robots.txt", views.robots_txt, name="robots"),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
]
