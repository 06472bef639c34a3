"""The sitemap: published entries, districts, agreements and the list pages."""

from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from timeline import selectors


class EventSitemap(Sitemap):
    changefreq = "monthly"

    def items(self):
        return selectors.event_list().order_by("date", "id").select_related(None).prefetch_related(None).only("slug", "updated_at")

    def lastmod(self, item):
        return item.updated_at


class DistrictSitemap(Sitemap):
    changefreq = "weekly"

    def items(self):
        return selectors.district_list().order_by("name").select_related(None).prefetch_related(None).only("slug", "updated_at")

    def lastmod(self, item):
        return item.updated_at


class AgreementSitemap(Sitemap):
    changefreq = "weekly"

    def items(self):
        return selectors.agreement_list().order_by("signed_on", "id").select_related(None).prefetch_related(None).only("slug", "updated_at")

    def lastmod(self, item):
        return item.updated_at


class ListPageSitemap(Sitemap):
    changefreq = "daily"
    priority = 0.8

    def items(self):
        return ["timeline:home", "timeline:district-list", "timeline:agreement-list", "timeline:handover-list"]

    def location(self, item):
        return reverse(item)


SITEMAPS = {
    "pages": ListPageSitemap,
    "events": EventSitemap,
    "districts": DistrictSitemap,
    "agreements": AgreementSitemap,
}
