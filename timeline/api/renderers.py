"""CSV and GeoJSON, written here rather than through an unmaintained plugin.

Both render the ``results`` of a page (or one record) and move the
pagination links into an HTTP ``Link`` header, the way the JSON body carries
them in ``next`` and ``previous``.
"""

import csv
import io
import json

import orjson
from rest_framework.renderers import BaseRenderer, JSONRenderer

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Prefix a would-be formula with a quote so a spreadsheet shows it as text."""
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


def _label(item):
    """How a related record appears inside a CSV cell: its slug, its source's slug, or its id."""
    if isinstance(item, dict):
        for key in ("slug", "id"):
            if isinstance(item.get(key), str | int):
                return item[key]
        source = item.get("source")
        if isinstance(source, dict) and isinstance(source.get("slug"), str):
            return source["slug"]
        return None
    return item


def _flatten(row: dict, skip: tuple = ()) -> dict:
    """One cell per field: related records by slug (or id), lists of them '; '-separated, anything else as JSON."""
    flat = {}
    for key, value in row.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            label = _label(value)
            flat[key] = label if label is not None else json.dumps(value, ensure_ascii=False, default=str)
        elif isinstance(value, list):
            labels = [_label(item) for item in value]
            if all(isinstance(label, str | int | float) for label in labels):
                flat[key] = "; ".join(str(label) for label in labels)
            else:
                flat[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        else:
            flat[key] = value
    return flat


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


class FastJSONRenderer(JSONRenderer):
    """DRF's ``JSONRenderer`` output written by orjson, several times faster on a page of events.

    Compact, UTF-8, U+2028 and U+2029 escaped as DRF does: the same bytes
    for strings, integers, booleans and nulls. An indent asked for in the
    media type, and whatever orjson refuses (integers past 64 bits, lone
    surrogates, keys that are not strings), go to DRF's renderer; dates,
    decimals and lazy strings are converted by DRF's own encoder. Floats
    keep their value but may be written differently below 1e-4 (0.00001
    for 1e-05), so it serves views without floats (the events).
    """

    _encoder = JSONRenderer.encoder_class()
    _options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or self.ensure_ascii or not self.compact:
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=self._default, option=self._options)
        except TypeError:  # orjson.JSONEncodeError
            return super().render(data, accepted_media_type, renderer_context)
        return body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")

    def _default(self, value):
        return self._encoder.default(value)


def _page_links(data, renderer_context) -> object:
    """The rows to render; sets a Link header from a paginated body's next/previous."""
    response = (renderer_context or {}).get("response")
    if isinstance(data, dict) and "results" in data and isinstance(data["results"], list):
        links = [f'<{data[rel]}>; rel="{rel}"' for rel in ("next", "previous") if data.get(rel)]
        if links and response is not None:
            response["Link"] = ", ".join(links)
        return data["results"]
    return data


class CSVRenderer(BaseRenderer):
    """One row per record and one column per field, the same columns whatever the rows.

    A related record is its slug (or id), a list of them a '; '-separated
    list, anything else (control history, postponements) compact JSON.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        rows = _page_links(data, renderer_context)
        if isinstance(rows, dict):
            rows = [rows]
        view = (renderer_context or {}).get("view")
        skip = tuple(getattr(view, "csv_exclude", ()))
        flat_rows = [_flatten(row, skip=skip) for row in rows if isinstance(row, dict)]
        columns: dict[str, None] = {}
        response = (renderer_context or {}).get("response")
        serializer_class = getattr(view, "serializer_class", None)
        if serializer_class is not None and response is not None and response.status_code < 400:
            columns = dict.fromkeys(name for name in serializer_class().fields if name not in skip)
        for row in flat_rows:
            columns.update(dict.fromkeys(row))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if columns:
            writer.writerow([neutralise(name) for name in columns])
        for row in flat_rows:
            writer.writerow([_cell(row.get(name)) for name in columns])
        if response is not None and response.status_code < 400 and view is not None:
            response["Content-Disposition"] = f'inline; filename="{getattr(view, "basename", "records")}.csv"'
        return buffer.getvalue().encode(self.charset)


def district_feature(district: dict) -> dict:
    geometry = district.get("boundary")
    if not geometry and district.get("latitude") is not None and district.get("longitude") is not None:
        geometry = {"type": "Point", "coordinates": [district["longitude"], district["latitude"]]}
    controlled_by = district.get("controlled_by") or {}
    return {
        "type": "Feature",
        "id": district.get("slug"),
        "geometry": geometry or None,
        "properties": {
            "slug": district.get("slug"),
            "name": district.get("name"),
            "kind": district.get("kind"),
            "controlled_by": controlled_by.get("slug"),
            "controlled_by_name": controlled_by.get("name"),
            "url": district.get("url"),
        },
    }


class GeoJSONRenderer(JSONRenderer):
    """Districts as a GeoJSON FeatureCollection (RFC 7946): the boundary when
    recorded, else a Point from latitude/longitude, else a null geometry."""

    media_type = "application/geo+json"
    format = "geojson"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400:
            return super().render(data, accepted_media_type, renderer_context)
        rows = _page_links(data, renderer_context)
        if isinstance(rows, dict):
            return super().render(district_feature(rows), accepted_media_type, renderer_context)
        collection = {"type": "FeatureCollection", "features": [district_feature(row) for row in rows]}
        if isinstance(data, dict):
            for key in ("count", "next", "previous"):
                if key in data:
                    collection[key] = data[key]
        return super().render(collection, accepted_media_type, renderer_context)
