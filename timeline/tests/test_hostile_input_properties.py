"""Property tests: random input never crashes the importer or the filters.

The importer: random JSON documents and random mutations of the demo dataset end either in
an import or in a DatasetError that names what is wrong, never in another exception, and a
refused file writes nothing. The filters: any query string on the timeline page and on the
events API is answered below 500.
"""

import copy
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from timeline import dataset
from timeline.models import Event
from timeline.tests import factories

DEMO = json.loads((Path(settings.BASE_DIR) / "data" / "nagorno-karabakh-2020.json").read_text(encoding="utf-8"))

FUZZ = hypothesis_settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["", "2020-02-30", "2020-11-10", "1992", "1988-02", "day", "month", "published", "draft",
                     "kalbajar", "azerbaijan", "javascript:alert(1)", "\u0000", "<script>", "-1", "NaN"]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)


def paths_of(node, prefix=()):
    """Every path into a JSON document (the document itself included)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths_of(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths_of(value, (*prefix, index))


DEMO_PATHS = [path for path in paths_of(DEMO) if path]


@st.composite
def mutated_demo(draw):
    """The demo dataset with one to three values replaced, removed or given a sibling key."""
    document = copy.deepcopy(DEMO)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(DEMO_PATHS))
        parent = document
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(json_values)
            elif action == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return document


def import_or_refuse(document) -> str:
    """'imported' or 'refused'; any other exception fails the test. Nothing is kept."""
    outcome = "imported"
    with transaction.atomic():
        try:
            dataset.load_file(io.BytesIO(json.dumps(document, ensure_ascii=False).encode()))
        except dataset.DatasetError as refused:
            assert refused.errors and all(isinstance(line, str) and line for line in refused.errors)
            outcome = "refused"
        transaction.set_rollback(True)
    return outcome


@pytest.mark.django_db
@FUZZ
@given(document=json_values)
def test_random_json_is_refused_cleanly_by_the_importer(document):
    assert import_or_refuse(document) == "refused"
    assert Event.objects.count() == 0


@pytest.mark.django_db
@FUZZ
@given(document=mutated_demo())
def test_a_mutated_demo_dataset_is_imported_or_refused_cleanly(document):
    import_or_refuse(document)
    assert Event.objects.count() == 0


@pytest.mark.django_db
@hypothesis_settings(max_examples=60, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_are_refused_cleanly_by_the_importer(raw):
    with pytest.raises(dataset.DatasetError):
        dataset.load_file(io.BytesIO(raw))


FILTER_NAMES = ["q", "district", "party", "kind", "agreement", "from", "to", "date_from", "date_to", "order",
                "ordering", "as_of", "page", "page_size", "cursor", "updated_since", "format", "status", "x"]
filter_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "0", "-1", "99999999999999999999", "2020-02-30", "2020-13", "0000-00-00", "1992",
                     "kalbajar", "%", "%00", "\u0000", "'; DROP TABLE timeline_event; --", "<script>", "csv",
                     "geojson", "api", "json", "\ud7ff", "\U0001f600"]),
)
query_strings = st.dictionaries(st.sampled_from(FILTER_NAMES), filter_values, max_size=5)


@pytest.fixture
def some_events(db):
    conflict = factories.ConflictFactory(slug="test-conflict")
    district = factories.DistrictFactory(conflict=conflict, slug="kalbajar", name="Kalbajar")
    factories.EventFactory(conflict=conflict, title="Fighting resumes", districts=[district])
    factories.EventFactory(conflict=conflict, title="Ceasefire", date=dt.date(2020, 11, 1), date_precision="month")
    return conflict


@pytest.mark.django_db
@hypothesis_settings(max_examples=60, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=query_strings)
def test_any_filter_on_the_timeline_page_is_answered_without_a_server_error(client, some_events, params):
    response = client.get("/", params)

    assert response.status_code < 500, (params, response.status_code)
    # Its visual data answers the same parameters the same way: drawn when the page is fine, else a 400 naming them.
    data = client.get("/timeline.json", params)
    assert data.status_code == response.status_code, (params, data.status_code)
    if data.status_code == 400:
        assert data.json()["errors"]
    else:
        assert len(data.json()["items"]) == min(response.context["page"].paginator.count, data.json()["limit"])


@pytest.mark.django_db
@hypothesis_settings(max_examples=60, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=query_strings)
def test_any_filter_on_the_events_api_is_answered_without_a_server_error(client, some_events, params):
    response = client.get("/api/v1/events/", params, HTTP_ACCEPT="application/json")

    assert response.status_code < 500, (params, response.status_code)
    if response.status_code == 400:
        assert response.json()["detail"]
