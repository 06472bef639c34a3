"""Who may do what: anyone reads (published records only), staff with the model permission write."""

from rest_framework import permissions


def sees_unpublished(request) -> bool:
    """Staff see drafts, entries in review and withdrawn records; everyone else only published ones."""
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and user.is_staff)


class StaffModelPermissionsOrReadOnly(permissions.DjangoModelPermissions):
    """Reads for everyone; writes for active staff holding the Django model permission.

    A view may name ``write_perms`` (e.g. ``["change"]``) for an action that is
    not a plain create/update/delete, such as postponing a deadline.
    """

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not user.is_staff:
            self.message = "Only staff accounts may change records."
            return False
        action_perms = getattr(getattr(view, getattr(view, "action", "") or "", None), "write_perms", None)
        if action_perms:
            queryset = self._queryset(view)
            meta = queryset.model._meta
            perms = [f"{meta.app_label}.{perm}_{meta.model_name}" for perm in action_perms]
            return user.has_perms(perms)
        return super().has_permission(request, view)
