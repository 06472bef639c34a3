"""One error shape for the whole API.

Every 4xx/5xx body is a JSON object::

    {"detail": "date_from: Enter a valid date.", "errors": {"date_from": ["Enter a valid date."]}}

``detail`` is one human-readable sentence. ``errors`` is present when the
request was invalid and maps each field (query parameter or body field; rules
about several fields use ``non_field_errors``) to the list of reasons.
Some errors add facts a client needs, e.g. ``current_version`` on 412.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record has changed since you read it."
    default_code = "precondition_failed"


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = (
        'Send an If-Match header with the ETag of the record as you last read it (GET it first), '
        "so that no one else's change is overwritten."
    )
    default_code = "precondition_required"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the state of the record."
    default_code = "conflict"


def django_validation_error_to_drf(error: DjangoValidationError, rename: dict | None = None) -> exceptions.ValidationError:
    """A model/service ``ValidationError`` as a DRF one, with model field names renamed to API names."""
    rename = rename or {}
    if hasattr(error, "error_dict"):
        detail = {}
        for field, messages in error.message_dict.items():
            name = "non_field_errors" if field == "__all__" else rename.get(field, field)
            detail.setdefault(name, []).extend(messages)
    else:
        detail = {"non_field_errors": list(error.messages)}
    return exceptions.ValidationError(detail)


def _flatten(errors, prefix="") -> list[str]:
    """'field: reason' sentences from DRF's nested error structure."""
    if isinstance(errors, dict):
        lines = []
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            lines.extend(_flatten(value, "" if key == "non_field_errors" and not prefix else name))
        return lines
    if isinstance(errors, list):
        lines = []
        for item in errors:
            lines.extend(_flatten(item, prefix))
        return lines
    return [f"{prefix}: {errors}" if prefix else str(errors)]


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = django_validation_error_to_drf(exc, getattr(context.get("view"), "error_field_names", None))
    elif isinstance(exc, ProtectedError):
        names = sorted({str(obj._meta.verbose_name) for obj in exc.protected_objects})
        exc = Conflict(f"Other records still refer to this one ({', '.join(names)}); change or delete them first.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = {"detail": " ".join(_flatten(errors)) or "Invalid input.", "errors": errors}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {**data, "detail": str(data["detail"])}
    else:
        response.data = {"detail": " ".join(_flatten(data))}
    extra = getattr(exc, "extra", None)
    if extra:
        response.data.update(extra)
    return response
