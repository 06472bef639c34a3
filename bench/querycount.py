"""SQL queries per request, measured inside Django (run by ``bench.run`` in a subprocess).

Reads a JSON list of requests on standard input, answers each once through
Django's test client with ``CaptureQueriesContext`` (after one warm-up
request, so per-process caches are as in a running server) and prints JSON:
``{name: {"status": int, "queries": int, "plans": [...]}}``.

``DJANGO_SETTINGS_MODULE`` and ``DATABASE_URL`` come from the environment;
with ``"explain": "TEXT"`` the statements containing TEXT (e.g. `` LIKE ``)
are run again under ``EXPLAIN (ANALYZE, BUFFERS)`` and their plans returned.
"""

import json
import sys


def main() -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    requests = json.load(sys.stdin)
    # An error is an answer too (e.g. a 500 when the statement timeout cancels a query): it is counted, not raised.
    client = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)
    out = {}
    for request in requests:
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.get("headers", {}).items()}
        first = client.get(request["path"], **headers)
        if request.get("revalidate"):
            headers["HTTP_IF_NONE_MATCH"] = first.headers.get("ETag", "")
        with CaptureQueriesContext(connection) as captured:
            response = client.get(request["path"], **headers)
        plans = []
        needle = request.get("explain", "")
        if needle and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # The plan of a statement the server's timeout cancels is what the report needs most.
                cursor.execute("SET statement_timeout = 0")
                for query in captured.captured_queries:
                    if needle.upper() not in query["sql"].upper():
                        continue
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                    plans.append({"sql": query["sql"], "plan": "\n".join(row[0] for row in cursor.fetchall())})
        out[request["name"]] = {
            "status": response.status_code,
            "queries": len(captured.captured_queries),
            "plans": plans,
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
