"""The project's settings with the naive API as the whole site."""

from conflict.settings import *  # noqa: F403
from conflict.settings import REST_FRAMEWORK

ROOT_URLCONF = "bench.naive.urls"

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
    ],
}
