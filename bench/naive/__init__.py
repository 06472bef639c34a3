"""The naive peer: the events API as most Django projects first write it.

DRF ``ModelViewSet`` with default ``ModelSerializer`` s (``depth = 1``),
``PageNumberPagination`` (OFFSET), django-filter and ``SearchFilter`` on
plain fields, and no ``select_related`` / ``prefetch_related``. It reuses the
project's models and database; only the API layer differs. Serve it with

    DJANGO_SETTINGS_MODULE=bench.naive.settings gunicorn bench.naive.wsgi
"""
