import pytest
from django.core.cache import caches

from timeline.cache import CACHE_ALIAS
from timeline.tests import factories


@pytest.fixture(autouse=True)
def fresh_response_cache():
    """Anonymous answers are cached (timeline.cache): no test may be answered from another's."""
    caches[CACHE_ALIAS].clear()
    yield


@pytest.fixture
def staff_user(db):
    return factories.UserFactory(username="editor", is_staff=True)


@pytest.fixture
def superuser(db):
    return factories.UserFactory(username="admin", is_staff=True, is_superuser=True)
