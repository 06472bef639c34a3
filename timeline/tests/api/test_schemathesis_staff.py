"""schemathesis as staff: every operation, every method, with a staff token.

The anonymous run (test_schema.py) reads; this one also writes and deletes, as an editor
with every model permission would. No answer may be a server error, and every documented
answer must match the schema. Examples are few and derandomized so the run stays well
under a minute and fails the same way twice.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """The raw WSGI app must not close the test transaction's connection after each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def staff_headers(editor_user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.get_or_create(user=editor_user)[0].key
    # If-Match: * lets generated writes reach validation instead of stopping at the precondition.
    return {"Authorization": f"Token {token}", "If-Match": "*"}


@schema.parametrize()
@settings(max_examples=4, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_staff_calls_to_every_operation_get_no_server_error_and_match_the_schema(
    case, world, staff_headers, wsgi_keeps_the_test_connection
):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    case.call_and_validate(headers=staff_headers, checks=[not_a_server_error, response_schema_conformance])


def test_the_staff_run_covers_every_method_of_the_api():
    operations = [result.ok() for result in schema.get_all_operations()]
    methods = {operation.method.upper() for operation in operations}

    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    assert len(operations) >= 30
