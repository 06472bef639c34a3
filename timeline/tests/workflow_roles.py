"""Accounts in each editorial role, as the data migration defines the roles."""

from django.contrib.auth.models import Group

from timeline.tests import factories


def user_in(role: str | None, username: str):
    user = factories.UserFactory(username=username, is_staff=role is not None)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
