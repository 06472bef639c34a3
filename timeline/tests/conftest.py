import pytest

from timeline.tests import factories


@pytest.fixture
def staff_user(db):
    return factories.UserFactory(username="editor", is_staff=True)


@pytest.fixture
def superuser(db):
    return factories.UserFactory(username="admin", is_staff=True, is_superuser=True)
