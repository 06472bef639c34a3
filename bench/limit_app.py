"""The limit: the benchmark's endpoints as a bare WSGI app, one hand-written SQL query each.

No Django, no ORM, no serializer: psycopg2, one query that returns the rows
with their related records already aggregated by PostgreSQL, and the fastest
JSON encoder available (orjson, else the standard library). It answers the
same requests as the project with the same data, so the project's figures can
be read as a fraction of what this machine and database can do at all.

    DATABASE_URL=postgres://... gunicorn bench.limit_app:application

Every response carries ``X-SQL-Queries`` (always 1), so the benchmark reports
the limit's query count the same way as the others'.
"""

import datetime as dt
import os
import threading
from urllib.parse import parse_qs

import psycopg2

from timeline.text import fold  # the search key the project stores; pure Python

try:
    import orjson

    def dumps(data) -> bytes:
        return orjson.dumps(data)

    ENCODER = "orjson"
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    import json

    def dumps(data) -> bytes:
        return json.dumps(data, separators=(",", ":"), default=str).encode()

    ENCODER = "json"

_local = threading.local()

_REFS = """
  (SELECT coalesce(json_agg(json_build_object('slug', d.slug, 'name', d.name) ORDER BY d.name), '[]')
     FROM timeline_event_districts ed JOIN timeline_district d ON d.id = ed.district_id
    WHERE ed.event_id = e.id AND d.publication_status = 'published') AS districts,
  (SELECT coalesce(json_agg(json_build_object('slug', p.slug, 'name', p.name) ORDER BY p.name), '[]')
     FROM timeline_event_parties ep JOIN timeline_party p ON p.id = ep.party_id
    WHERE ep.event_id = e.id AND p.publication_status = 'published') AS parties,
  (SELECT coalesce(json_agg(json_build_object(
            'source', json_build_object('slug', s.slug, 'title', s.title, 'publisher', s.publisher, 'url', s.url),
            'passage', c.passage, 'locator', c.locator) ORDER BY c."order", c.id), '[]')
     FROM timeline_citation c JOIN timeline_source s ON s.id = c.source_id
    WHERE c.event_id = e.id AND s.publication_status = 'published') AS sources,
  cp.slug AS claimed_slug, cp.name AS claimed_name, a.slug AS agreement_slug, a.title AS agreement_title,
  h.id AS handover_id, h.status AS handover_status, hd.slug AS handover_district_slug, hd.name AS handover_district_name
"""

_EVENT_COLUMNS = """
  e.id, e.slug, e.title, e.summary, e.body, e.kind, e.origin, e.date, e.date_precision, e.end_date,
  e.end_date_precision, e.publication_status, e.updated_at,
"""

_JOINS = """
  LEFT JOIN timeline_party cp ON cp.id = e.claimed_by_id AND cp.publication_status = 'published'
  LEFT JOIN timeline_agreement a ON a.id = e.agreement_id AND a.publication_status = 'published'
  LEFT JOIN timeline_handover h ON h.id = e.handover_id AND h.publication_status = 'published'
  LEFT JOIN timeline_district hd ON hd.id = h.district_id
"""

MONTHS = [
    "", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]


def _connection():
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg2.connect(os.environ["DATABASE_URL"])
        conn.autocommit = True
        _local.conn = conn
    return conn


def _query(sql: str, params) -> list[tuple]:
    with _connection().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _format(day: dt.date, precision: str) -> str:
    if precision == "year":
        return str(day.year)
    if precision == "month":
        return f"{MONTHS[day.month]} {day.year}"
    return f"{day.day} {MONTHS[day.month]} {day.year}"


def _event(row, host: str) -> dict:
    (pk, slug, title, summary, body, kind, origin, date, precision, end_date, end_precision, status, updated_at,
     districts, parties, sources, claimed_slug, claimed_name, agreement_slug, agreement_title,
     handover_id, handover_status, handover_district_slug, handover_district_name) = row
    display = _format(date, precision)
    if end_date is not None:
        display = f"{display} \u2013 {_format(end_date, end_precision or precision)}"
    return {
        "id": pk,
        "slug": slug,
        "title": title,
        "summary": summary,
        "body": body,
        "kind": kind,
        "origin": origin,
        "date": date,
        "date_precision": precision,
        "end_date": end_date,
        "end_date_precision": end_precision,
        "date_display": display,
        "is_claim": claimed_slug is not None,
        "claimed_by": {"slug": claimed_slug, "name": claimed_name} if claimed_slug else None,
        "districts": districts,
        "parties": parties,
        "agreement": {"slug": agreement_slug, "title": agreement_title} if agreement_slug else None,
        "handover": {
            "id": handover_id,
            "district": {"slug": handover_district_slug, "name": handover_district_name},
            "status": handover_status,
        }
        if handover_id
        else None,
        "sources": sources,
        "url": f"http://{host}/events/{slug}/",
        "status": status,
        "updated_at": updated_at,
    }


def events_list(params: dict, host: str) -> dict:
    """Keyset page on (date, id); ``after=DATE,ID`` is the cursor."""
    where, args = ["e.publication_status = 'published'"], []
    districts = params.get("district", [])
    if districts:
        where.append(
            "EXISTS (SELECT 1 FROM timeline_event_districts ed JOIN timeline_district d ON d.id = ed.district_id "
            "WHERE ed.event_id = e.id AND d.slug = ANY(%s))"
        )
        args.append(districts)
    if params.get("date_from"):
        where.append("e.span_end >= %s")
        args.append(params["date_from"][0])
    if params.get("date_to"):
        where.append("e.date <= %s")
        args.append(params["date_to"][0])
    if params.get("q"):
        q = params["q"][0]
        # The same index-served condition as the project (selectors.event_text_matches).
        where.append(
            "(e.search_text LIKE %s OR e.id = ANY(ARRAY(SELECT ed.event_id FROM timeline_event_districts ed "
            "WHERE ed.district_id IN (SELECT id FROM timeline_district WHERE search_key LIKE %s "
            "UNION SELECT district_id FROM timeline_districtalias WHERE search_key LIKE %s))))"
        )
        like = f"%{fold(q)}%"
        args += [like, like, like]
    if params.get("after"):
        day, pk = params["after"][0].split(",")
        where.append("(e.date, e.id) > (%s, %s)")
        args += [day, int(pk)]
    size = int(params.get("page_size", ["50"])[0])
    rows = _query(
        f"SELECT {_EVENT_COLUMNS} {_REFS} FROM timeline_event e {_JOINS} WHERE {' AND '.join(where)} "  # noqa: S608 - fixed SQL, values are parameters
        "ORDER BY e.date, e.id LIMIT %s",
        [*args, size + 1],
    )
    more = len(rows) > size
    rows = rows[:size]
    results = [_event(row, host) for row in rows]
    following = None
    if more:
        last = rows[-1]
        following = f"http://{host}/api/v1/events/?page_size={size}&after={last[7].isoformat()},{last[0]}"
    return {"next": following, "previous": None, "results": results}


def event_detail(slug: str, host: str):
    rows = _query(
        f"SELECT {_EVENT_COLUMNS} {_REFS} FROM timeline_event e {_JOINS} "  # noqa: S608 - fixed SQL
        "WHERE e.slug = %s AND e.publication_status = 'published'",
        [slug],
    )
    return _event(rows[0], host) if rows else None


def districts_search(params: dict, host: str) -> dict:
    q = params.get("q", [""])[0].casefold()
    rows = _query(
        """
        SELECT d.id, d.slug, d.name, d.kind, d.latitude, d.longitude, c.slug, c.name, pd.slug, pd.name,
          (SELECT coalesce(json_agg(json_build_object('name', x.name, 'language', x.language, 'kind', x.kind)
                                    ORDER BY x.language, x.name), '[]')
             FROM timeline_districtalias x WHERE x.district_id = d.id)
        FROM timeline_district d JOIN timeline_conflict c ON c.id = d.conflict_id
        LEFT JOIN timeline_district pd ON pd.id = d.parent_id
        WHERE d.publication_status = 'published' AND (d.search_key LIKE %s OR d.id IN (
              SELECT district_id FROM timeline_districtalias WHERE search_key LIKE %s))
        ORDER BY d.name LIMIT 51
        """,
        [f"%{q}%", f"%{q}%"],
    )
    results = [
        {
            "id": pk, "slug": slug, "name": name, "kind": kind,
            "latitude": str(lat) if lat is not None else None, "longitude": str(lon) if lon is not None else None,
            "conflict": {"slug": c_slug, "name": c_name},
            "parent": {"slug": p_slug, "name": p_name} if p_slug else None,
            "aliases": aliases, "url": f"http://{host}/districts/{slug}/",
        }
        for pk, slug, name, kind, lat, lon, c_slug, c_name, p_slug, p_name, aliases in rows[:50]
    ]
    return {"count": len(results), "next": None, "previous": None, "results": results}


def handovers_list(params: dict, host: str) -> dict:
    rows = _query(
        """
        SELECT h.id, d.slug, d.name, fp.slug, fp.name, tp.slug, tp.name, a.slug, a.title, h.deadline_id, h.status,
               dl.original_due_on, dl.due_on, h.completed_on, h.cancelled_on, h.summary, h.publication_status,
               h.updated_at,
          (SELECT coalesce(json_agg(json_build_object('sequence', p.sequence, 'from_date', p.from_date,
                    'to_date', p.to_date, 'decided_on', p.decided_on, 'reason', p.reason) ORDER BY p.sequence), '[]')
             FROM timeline_postponement p WHERE p.deadline_id = h.deadline_id),
          (SELECT coalesce(json_agg(json_build_object(
                    'source', json_build_object('slug', s.slug, 'title', s.title, 'publisher', s.publisher, 'url', s.url),
                    'passage', c.passage, 'locator', c.locator) ORDER BY c."order", c.id), '[]')
             FROM timeline_citation c JOIN timeline_source s ON s.id = c.source_id WHERE c.handover_id = h.id)
        FROM timeline_handover h
        JOIN timeline_district d ON d.id = h.district_id
        JOIN timeline_party fp ON fp.id = h.from_party_id
        JOIN timeline_party tp ON tp.id = h.to_party_id
        LEFT JOIN timeline_agreement a ON a.id = h.agreement_id
        LEFT JOIN timeline_deadline dl ON dl.id = h.deadline_id
        WHERE h.publication_status = 'published'
        ORDER BY dl.original_due_on, d.name, h.id LIMIT 51
        """,
        [],
    )
    results = []
    for (pk, d_slug, d_name, f_slug, f_name, t_slug, t_name, a_slug, a_title, deadline_id, status, original, due,
         completed, cancelled, summary, publication_status, updated_at, postponements, sources) in rows[:50]:
        results.append({
            "id": pk, "district": {"slug": d_slug, "name": d_name}, "from_party": {"slug": f_slug, "name": f_name},
            "to_party": {"slug": t_slug, "name": t_name},
            "agreement": {"slug": a_slug, "title": a_title} if a_slug else None, "deadline": deadline_id,
            "status": status, "original_due_on": original, "due_on": due, "completed_on": completed,
            "cancelled_on": cancelled,
            "delay_days": (completed - original).days if completed and original else None,
            "delay_against_current_days": (completed - due).days if completed and due else None,
            "postponements": postponements, "summary": summary, "sources": sources,
            "url": f"http://{host}/handovers/?district={d_slug}#handover-{d_slug}", "publication_status": publication_status,
            "updated_at": updated_at,
        })
    return {"count": len(results), "next": None, "previous": None, "results": results}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    params = parse_qs(environ.get("QUERY_STRING", ""))
    host = environ.get("HTTP_HOST", "127.0.0.1")
    body = None
    if path == "/api/v1/events/":
        body = events_list(params, host)
    elif path.startswith("/api/v1/events/") and path.endswith("/"):
        body = event_detail(path[len("/api/v1/events/") : -1], host)
    elif path == "/api/v1/districts/":
        body = districts_search(params, host)
    elif path == "/api/v1/handovers/":
        body = handovers_list(params, host)
    elif path == "/healthz":
        body = {"status": "ok", "encoder": ENCODER}
    if body is None:
        start_response("404 Not Found", [("Content-Type", "application/json"), ("X-SQL-Queries", "0")])
        return [b'{"detail":"Not found."}']
    payload = dumps(body)
    queries = "0" if path == "/healthz" else "1"
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), ("X-SQL-Queries", queries)],
    )
    return [payload]
