"""A tiny run of the benchmark (``bench/``) so its code never rots.

It serves the project, the limit app and the naive peer with gunicorn over
its own small PostgreSQL database, drives every endpoint for half a second
with the standard-library client, and checks the report. The figures are not
looked at: ``--smoke`` runs with DEBUG on. It needs PostgreSQL (the limit app
is psycopg2) and skips only when no server answers.
"""

import re

import pytest

from bench import run

POSTGRES = run.DEFAULT_POSTGRES

pytestmark = pytest.mark.skipif(
    not run.postgres_reachable(POSTGRES), reason=f"PostgreSQL is not reachable at {POSTGRES}"
)

ENDPOINTS = [
    "events list (district + dates, 100/page)",
    "event detail",
    "events page 1 (100/page)",
    "events deep page",
    "alias search: districts ?q=",
    "alias search: events ?q=",
    "handover tracker API",
    "handover tracker page /handovers/",
    "timeline page / ?district=",
    "cached: events list (district + dates, 100/page)",
    "cached: timeline page / ?district=",
    "304 revalidation (events list)",
]
BASELINED = ENDPOINTS[:7]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    report = run.main(
        [
            "--smoke", "--sizes", "300", "--duration", "0.5", "--warmup", "0", "--client", "python",
            "--connections", "2", "--workers", "1", "--threads", "2", "--skip-import",
            "--db-prefix", "conflict_bench_smoke", "--postgres", POSTGRES,
            "--output", str(out / "benchmarks.md"), "--json", str(out / "bench.json"),
        ]
    )
    return report, (out / "benchmarks.md").read_text()


def _table_rows(markdown: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("| ") and not line.startswith("| Endpoint") and not line.startswith("| Target")
    ]


def test_every_endpoint_has_a_row_with_numbers_for_the_project(smoke):
    report, markdown = smoke
    rows = {(r[0], r[1]): r for r in _table_rows(markdown) if len(r) == 10}
    for endpoint in ENDPOINTS:
        matching = [row for (name, app), row in rows.items() if name.startswith(endpoint) and app == "project"]
        assert matching, f"no project row for {endpoint}"
        _, _, rps, p50, p99, sql, rss, *_ = matching[0]
        assert float(rps.replace(",", "")) > 0
        assert float(p50.replace(",", "")) > 0 and float(p99.replace(",", "")) >= float(p50.replace(",", ""))
        assert int(sql) >= 1
        assert float(rss.replace(",", "")) > 10


def test_the_baselines_answer_the_same_endpoints(smoke):
    report, _ = smoke
    size = report["sizes"][0]
    for app in ("limit", "naive"):
        served = [row for row in size["rows"] if row["app"] == app]
        for endpoint in BASELINED:
            row = next((r for r in served if r["endpoint"].startswith(endpoint)), None)
            assert row is not None, f"{app} has no row for {endpoint}"
            assert row["status"] == 200 and row["requests"] > 0 and row["errors"] == 0
    assert all(row["queries"] == 1 for row in size["rows"] if row["app"] == "limit")


def test_all_requests_succeed_and_the_304_is_a_304(smoke):
    report, _ = smoke
    rows = report["sizes"][0]["rows"]
    assert all(row["errors"] == 0 for row in rows), [r for r in rows if r["errors"]]
    revalidation = next(row for row in rows if row["endpoint"].startswith("304"))
    assert revalidation["status"] == 304
    assert set(revalidation["statuses"]) == {304}


def test_the_report_states_machine_versions_command_and_every_target(smoke):
    report, markdown = smoke
    assert markdown.count(run.RESULTS_START) == 1 and markdown.count(run.RESULTS_END) == 1
    assert "python -m bench.run --smoke --sizes 300" in markdown
    assert re.search(r"Machine: \d+ CPUs", markdown)
    for name in ("Python", "Django", "gunicorn", "PostgreSQL", "wrk"):
        assert f"{name} " in markdown
    targets = [t for t, _, _ in report["targets"]]
    assert any("0.5x the limit" in t for t in targets)
    assert any("3x the naive" in t for t in targets)
    assert any("deep page within 1.2x" in t for t in targets)
    assert any("304 at least 5x" in t for t in targets)
    assert any("page sizes 10 and 500" in t for t in targets)
    assert any("within 2x of the events list" in t for t in targets)
    assert any("import_timeline" in t for t in targets)


def test_answers_from_the_response_cache_cost_the_record_clock_query_only(smoke):
    report, _ = smoke
    counts = report["sizes"][0]["queries"]["project"]
    assert counts["304 revalidation (events list)"] == {"queries": 1, "status": 304}
    assert counts["cached: events list (district + dates, 100/page)"] == {"queries": 1, "status": 200}
    assert counts["events list (district + dates, 100/page)"]["queries"] > 1  # measured with the cache off


def test_sql_per_request_does_not_depend_on_the_page_size(smoke):
    report, _ = smoke
    counts = report["sizes"][0]["queries"]["project"]
    assert counts["page_size=10"]["queries"] == counts["page_size=500"]["queries"]


def test_the_naive_peer_runs_more_queries_than_the_project_on_a_list(smoke):
    report, _ = smoke
    counts = report["sizes"][0]["queries"]
    listing = "events list (district + dates, 100/page)"
    assert counts["naive"][listing]["queries"] > 3 * counts["project"][listing]["queries"]


def test_a_size_is_a_number_with_an_optional_k_or_m():
    assert run.parse_size("10k") == ("10k", 10_000)
    assert run.parse_size("1m") == ("1m", 1_000_000)
    assert run.parse_size("300") == ("300", 300)
    with pytest.raises(Exception, match="positive number"):
        run.parse_size("0")
    with pytest.raises(Exception, match="positive number"):
        run.parse_size("ten")


def test_wrk_output_is_parsed_into_rate_and_percentiles():
    output = """Running 10s test @ http://127.0.0.1:8000/
  2 threads and 8 connections
  Latency Distribution
     50%   12.50ms
     75%   20.00ms
     90%   30.00ms
     99%    1.20s
  1234 requests in 10.00s, 5.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:    123.40
"""
    load = run.parse_wrk(output, 10)
    assert (load.requests, load.rps, load.p50_ms, load.p99_ms, load.errors) == (1234, 123.4, 12.5, 1200.0, 3)


def test_the_python_load_client_runs_even_inside_a_running_event_loop():
    """Playwright's sync API keeps a loop running in the test session; the client must not nest in it."""
    import asyncio
    import http.server
    import threading

    from bench import run

    class Ok(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        async def inside_a_loop():
            return run.run_python_client(
                f"http://127.0.0.1:{server.server_port}/", {}, duration=0.3, connections=2
            )

        # The outer loop runs in a thread of its own so this test does not itself nest in
        # whatever loop the test session already runs.
        result = {}
        thread = threading.Thread(target=lambda: result.update(load=asyncio.run(inside_a_loop())))
        thread.start()
        thread.join(timeout=30)
        load = result["load"]
    finally:
        server.shutdown()
    assert load.requests > 0
