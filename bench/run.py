# ruff: noqa: S603 - the driver runs its own fixed commands (manage.py, gunicorn, wrk, apt-get)
"""The benchmark: ``make bench`` or ``python -m bench.run --sizes 10k,100k,1m``.

For each size it fills (or reuses) its own PostgreSQL database with
``generate_synthetic``, serves three applications over that database with the
same gunicorn settings, one at a time, and drives each endpoint from a second
process for a fixed time and number of connections:

* the project (``conflict.wsgi``);
* the limit (``bench/limit_app.py``): one hand-written SQL query a request;
* the naive peer (``bench/naive/``): default DRF ModelViewSets.

It reports requests/s, p50 and p99 latency, SQL queries per request (counted
inside Django by ``bench/querycount.py``) and the servers' peak memory (the
sum of the gunicorn processes' RSS, sampled from /proc), checks the targets,
and writes the tables into docs/benchmarks.md. See that file for the method.
"""

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"
APPS = ("project", "limit", "naive")
CACHED_PREFIX = "cached: "  # rows measured with the project's response cache on
DEEP_PAGE = 10_000
PAGE = 100


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_size(raw: str) -> tuple[str, int]:
    """'10k' -> ('10k', 10000), '1m' -> ('1m', 1000000), '300' -> ('300', 300)."""
    text = raw.strip().lower().replace("_", "")
    match = re.fullmatch(r"(\d+)([km]?)", text)
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"A size is a positive number, optionally with k or m (got {raw!r}).")
    return text, int(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]


# --------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------


def pg_connect(url: str):
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def pg_query(url: str, sql: str, params=()) -> list[tuple]:
    conn = pg_connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        conn.close()


def postgres_reachable(base: str) -> bool:
    try:
        pg_query(f"{base}/postgres", "SELECT 1")
    except Exception:
        return False
    return True


def django_env(
    database_url: str, settings: str = "conflict.settings", *, debug: bool = False, response_cache: bool = False
) -> dict:
    """The environment of every Django process of the benchmark: production settings, a throwaway secret.

    ``debug`` is only for ``--smoke``, which checks that the benchmark runs
    without collecting static files first; its figures mean nothing.
    ``response_cache``: the project's cache of anonymous answers (timeline.cache). Off for
    the primary figures, which measure the work of answering; on for the rows marked
    "cached" and for the 304, which measure what a reader gets from it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE=settings,
        DJANGO_DEBUG="1" if debug else "0",
        DJANGO_SECRET_KEY="bench-" + secrets.token_hex(16),
        DJANGO_CONN_MAX_AGE="600",
        DJANGO_LOG_LEVEL="WARNING",
        # The anonymous throttle would answer 429 within a second at these rates.
        API_ANON_RATE="1000000000/second",
        RESPONSE_CACHE="1" if response_cache else "0",
        PYTHONPATH=str(ROOT),
    )
    env.pop("REDIS_URL", None)
    return env


def manage(database_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=django_env(database_url), check=check, capture_output=True, text=True
    )


def synthetic_state(url: str) -> tuple[int, int]:
    """(editorial events, synthetic conflicts) already in the database."""
    rows = pg_query(
        url,
        "SELECT (SELECT count(*) FROM timeline_event WHERE origin = 'editorial'), "
        "(SELECT count(*) FROM timeline_conflict WHERE summary LIKE 'Synthetic data%%')",
    )
    return rows[0]


def ensure_database(base: str, name: str, events: int, seed: int) -> dict:
    """A database holding exactly ``events`` synthetic events: reused when it does, rebuilt otherwise."""
    url = f"{base}/{name}"
    exists = pg_query(f"{base}/postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [name])
    if exists:
        with contextlib.suppress(Exception):
            editorial, conflicts = synthetic_state(url)
            if editorial == events and conflicts > 0:
                log(f"{name}: reusing, it holds {events:,} synthetic events; migrating")
                manage(url, "migrate", "--noinput", "-v0")  # the indexes measured are those of this checkout
                return {"reused": True, "generation": None}
        log(f"{name}: holds other data, rebuilding")
        pg_query(f"{base}/postgres", f'DROP DATABASE "{name}" WITH (FORCE)')
    pg_query(f"{base}/postgres", f'CREATE DATABASE "{name}"')
    log(f"{name}: migrating")
    manage(url, "migrate", "--noinput", "-v0")
    log(f"{name}: generating {events:,} events")
    started = time.perf_counter()
    result = manage(url, "generate_synthetic", "--events", str(events), "--seed", str(seed))
    seconds = time.perf_counter() - started
    summary = next((line for line in result.stdout.splitlines() if line.startswith("Generated")), "")
    summary += " " + (result.stdout.strip().splitlines() or [""])[-1]
    log(f"{name}: {summary}")
    pg_query(url, "VACUUM ANALYZE")
    return {"reused": False, "generation": summary, "seconds": round(seconds, 1)}


# --------------------------------------------------------------------------
# What to request
# --------------------------------------------------------------------------


@dataclass
class Targets:
    district: str
    date_from: str
    date_to: str
    event: str
    alias: str
    deep_page: int
    deep_after: tuple[str, int]  # (date, id) of the last row before the deep page
    published: int


def discover(url: str) -> Targets:
    """Pick the requests from the data: the district with most events, a date range over
    the middle of its events, one of its events, its Russian alias, and the deep page."""
    (district_id, slug, _count), = pg_query(
        url,
        """SELECT d.id, d.slug, count(*) FROM timeline_event_districts ed
           JOIN timeline_district d ON d.id = ed.district_id GROUP BY d.id, d.slug ORDER BY 3 DESC, 2 LIMIT 1""",
    )
    (date_from, date_to), = pg_query(
        url,
        """SELECT percentile_disc(0.1) WITHIN GROUP (ORDER BY e.date), percentile_disc(0.9) WITHIN GROUP (ORDER BY e.date)
           FROM timeline_event e JOIN timeline_event_districts ed ON ed.event_id = e.id WHERE ed.district_id = %s""",
        [district_id],
    )
    (event,), = pg_query(
        url,
        """SELECT e.slug FROM timeline_event e JOIN timeline_event_districts ed ON ed.event_id = e.id
           WHERE ed.district_id = %s AND e.origin = 'editorial'
             AND (SELECT count(*) FROM timeline_event_districts x WHERE x.event_id = e.id) >= 2
           ORDER BY e.id LIMIT 1""",
        [district_id],
    )
    (alias,), = pg_query(
        url, "SELECT name FROM timeline_districtalias WHERE district_id = %s AND language = 'ru'", [district_id]
    )
    (published,), = pg_query(url, "SELECT count(*) FROM timeline_event WHERE publication_status = 'published'")
    deep = max(2, min(DEEP_PAGE, (published - 1) // PAGE))
    (day, pk), = pg_query(
        url,
        "SELECT date, id FROM timeline_event WHERE publication_status = 'published' ORDER BY date, id OFFSET %s LIMIT 1",
        [PAGE * (deep - 1) - 1],
    )
    return Targets(slug, date_from.isoformat(), date_to.isoformat(), event, alias, deep, (day.isoformat(), pk), published)


def project_cursor(day: str, pk: int) -> str:
    """The ``next`` cursor the project's keyset pagination gives after the row (day, pk).

    The benchmark checks it against the links it really follows (``verify_cursor``).
    """
    payload = {"o": "date", "v": day, "i": pk, "d": "n"}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


@dataclass
class Endpoint:
    name: str
    paths: dict  # app -> path (absent: the app has no such endpoint)
    headers: dict = field(default_factory=dict)
    revalidate: bool = False  # send If-None-Match with the ETag of a first response
    cached: bool = False  # served with the response cache on (RESPONSE_CACHE=1); off otherwise
    explain: str = ""  # plans of the statements containing this text (largest size only)


def endpoints(t: Targets, deep_cursor: str) -> list[Endpoint]:
    d, q_alias = t.district, quote(t.alias)
    rng = f"date_from={t.date_from}&date_to={t.date_to}"
    after_day, after_pk = t.deep_after
    return [
        Endpoint(
            "events list (district + dates, 100/page)",
            {
                "project": f"/api/v1/events/?district={d}&{rng}&page_size=100",
                "limit": f"/api/v1/events/?district={d}&{rng}&page_size=100",
                "naive": f"/api/v1/events/?districts__slug={d}&date__gte={t.date_from}&date__lte={t.date_to}&page_size=100",
            },
        ),
        Endpoint(
            "event detail",
            dict.fromkeys(APPS, f"/api/v1/events/{t.event}/"),
        ),
        Endpoint(
            "events page 1 (100/page)",
            {
                "project": "/api/v1/events/?page_size=100",
                "limit": "/api/v1/events/?page_size=100",
                "naive": "/api/v1/events/?page_size=100",
            },
        ),
        Endpoint(
            f"events deep page {t.deep_page:,} (100/page)",
            {
                "project": f"/api/v1/events/?page_size=100&cursor={deep_cursor}",
                "limit": f"/api/v1/events/?page_size=100&after={after_day},{after_pk}",
                "naive": f"/api/v1/events/?page_size=100&page={t.deep_page}",
            },
            explain='FROM "timeline_event" ',
        ),
        Endpoint(
            "alias search: districts ?q=",
            {
                "project": f"/api/v1/districts/?q={q_alias}",
                "limit": f"/api/v1/districts/?q={q_alias}",
                "naive": f"/api/v1/districts/?search={q_alias}",
            },
            explain=" LIKE ",
        ),
        Endpoint(
            "alias search: events ?q=",
            {
                "project": f"/api/v1/events/?q={q_alias}&page_size=100",
                "limit": f"/api/v1/events/?q={q_alias}&page_size=100",
                "naive": f"/api/v1/events/?search={q_alias}&page_size=100",
            },
            explain=" LIKE ",
        ),
        Endpoint(
            "handover tracker API",
            dict.fromkeys(APPS, "/api/v1/handovers/"),
        ),
        Endpoint("handover tracker page /handovers/", {"project": "/handovers/"}),
        Endpoint("timeline page / ?district=", {"project": f"/?district={d}"}),
        # What the page's script then fetches for its visual timeline (views.timeline_visual).
        Endpoint("visual timeline data /timeline.json ?district=", {"project": f"/timeline.json?district={d}"}),
        # With the response cache on: an anonymous reader's answer when nothing changed since.
        Endpoint(
            f"{CACHED_PREFIX}events list (district + dates, 100/page)",
            {"project": f"/api/v1/events/?district={d}&{rng}&page_size=100"},
            cached=True,
        ),
        Endpoint(f"{CACHED_PREFIX}timeline page / ?district=", {"project": f"/?district={d}"}, cached=True),
        Endpoint(
            "304 revalidation (events list)",
            {"project": f"/api/v1/events/?district={d}&{rng}&page_size=100"},
            revalidate=True,
            cached=True,
        ),
    ]


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

SERVED = {
    "project": ("conflict.wsgi:application", "conflict.settings", "/healthz"),
    "limit": ("bench.limit_app:application", "conflict.settings", "/healthz"),
    "naive": ("bench.naive.wsgi:application", "bench.naive.settings", "/api/v1/"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class RssSampler:
    """Peak of the summed RSS of a process and its children, sampled every ``interval`` s."""

    def __init__(self, root: int, interval: float = 0.1):
        self.root, self.interval, self.peak = root, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(process_tree(self.root)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _die_with_parent() -> None:
    """Linux: the server is sent SIGTERM if the benchmark dies, so none is left behind."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Server:
    """One application under gunicorn (gthread), as the benchmark serves all three."""

    def __init__(
        self, app: str, database_url: str, *, workers: int, threads: int, debug: bool = False,
        response_cache: bool = False,
    ):
        self.app = app
        self.response_cache = response_cache
        self.module, self.settings, self.health = SERVED[app]
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.cmd = [
            PY, "-m", "gunicorn", self.module, "--worker-class", "gthread", "--workers", str(workers),
            "--threads", str(threads), "--bind", f"127.0.0.1:{self.port}", "--keep-alive", "30",
            "--log-level", "warning", "--chdir", str(ROOT),
        ]
        self.env = django_env(database_url, self.settings, debug=debug, response_cache=response_cache)
        self.process = None

    def __enter__(self):
        # The server's log goes to a file: a pipe nobody reads fills up and blocks the workers.
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.app} server exited: {self.log.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + self.health, timeout=5) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError(f"{self.app} server did not answer {self.health} within 60 s")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310 - loopback
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


# --------------------------------------------------------------------------
# Load generators
# --------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    statuses: dict


def wrk_available(install: bool) -> str | None:
    """The path of wrk, installing Debian's package when missing and allowed (root with apt-get)."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        for cmd in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(cmd, capture_output=True, check=False, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
            if shutil.which("wrk"):
                break
    return shutil.which("wrk")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, duration: float) -> Load:
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", output, re.MULTILINE))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(x) for x in m.groups())
    measured = requests > 0  # wrk prints 0.00us percentiles when no request finished in time
    return Load(
        requests=requests, seconds=duration, rps=rps,
        p50_ms=_wrk_ms(percentiles["50"]) if measured and "50" in percentiles else None,
        p99_ms=_wrk_ms(percentiles["99"]) if measured and "99" in percentiles else None,
        errors=errors, statuses={},
    )


def run_wrk(wrk: str, url: str, headers: dict, *, duration: float, connections: int, threads: int) -> Load:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "60s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    output = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(output, duration)


async def _connection_loop(host, port, path, headers, deadline, latencies, statuses):
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    request += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    payload = request.encode("latin-1")
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(payload)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:  # the server closed the connection: open another
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            response_headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                response_headers[name.strip().lower()] = value.strip()
            if "content-length" in response_headers:
                await reader.readexactly(int(response_headers["content-length"]))
            elif response_headers.get("transfer-encoding") == "chunked":
                while (size := int((await reader.readline()).strip() or b"0", 16)) > 0:
                    await reader.readexactly(size + 2)
                await reader.readline()
            latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            statuses[status] = statuses.get(status, 0) + 1
            if response_headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def run_python_client(url: str, headers: dict, *, duration: float, connections: int) -> Load:
    """A minimal keep-alive HTTP/1.1 load generator (standard library only), used without wrk."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def main():
        deadline = time.perf_counter() + duration
        await asyncio.gather(
            *(
                _connection_loop(parts.hostname, parts.port, path, headers, deadline, latencies, statuses)
                for _ in range(connections)
            )
        )

    started = time.perf_counter()
    # A thread of its own: the caller may already run an event loop (Playwright's sync API
    # in the same test session does), and asyncio.run() refuses to nest in one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, main()).result()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else None

    errors = sum(n for status, n in statuses.items() if status not in (200, 304))
    return Load(len(ordered), elapsed, len(ordered) / elapsed, pct(0.50), pct(0.99), errors, statuses)


# --------------------------------------------------------------------------
# One size
# --------------------------------------------------------------------------


def count_queries(
    database_url: str, app: str, requests: list[dict], *, debug: bool = False, response_cache: bool = False
) -> dict:
    env = django_env(database_url, SERVED[app][1], debug=debug, response_cache=response_cache)
    result = subprocess.run(
        [PY, "-m", "bench.querycount"], cwd=ROOT, env=env,
        input=json.dumps(requests), capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Counting the {app}'s queries failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def verify_cursor(server: Server, database_url: str, pages: int) -> bool:
    """Follow ``next`` from page 1 ``pages`` times and check the cursor we build is the one the API gives."""
    path = "/api/v1/events/?page_size=100"
    for _ in range(pages):
        status, _, body = server.get(path)
        if status != 200:
            return False
        following = json.loads(body).get("next")
        if not following:
            return False
        parts = urlsplit(following)
        path = f"{parts.path}?{parts.query}"
    token = parse_qs(urlsplit(path).query)["cursor"][0]
    rows = pg_query(
        database_url,
        "SELECT date, id FROM timeline_event WHERE publication_status = 'published' ORDER BY date, id OFFSET %s LIMIT 1",
        [PAGE * pages - 1],
    )
    day, pk = rows[0]
    return token == project_cursor(day.isoformat(), pk)


def follow_to(server: Server, page: int) -> str:
    """The cursor of ``page`` (100 a page) reached by following ``next`` links: 500 a page, then 100."""
    path, position = "/api/v1/events/?page_size=500", 0
    goal = PAGE * (page - 1)
    while position < goal:
        size = 500 if goal - position >= 500 else 100
        path = re.sub(r"page_size=\d+", f"page_size={size}", path)
        status, _, body = server.get(path)
        following = json.loads(body)["next"]
        parts = urlsplit(following)
        path = f"{parts.path}?{parts.query}"
        position += size
    return parse_qs(urlsplit(path).query)["cursor"][0]


def bench_size(label: str, events: int, args, wrk: str | None) -> dict:
    name = f"{args.db_prefix}_{label}"
    url = f"{args.postgres}/{name}"
    result = {"label": label, "events": events, "database": name, "rows": [], "queries": {}, "plans": {}}
    result["db"] = ensure_database(args.postgres, name, events, args.seed)
    result["loadavg_before"] = os.getloadavg()[0]
    t = discover(url)
    result["targets"] = asdict(t)
    log(f"{label}: district {t.district}, alias {t.alias}, deep page {t.deep_page}")

    deep_cursor = project_cursor(*t.deep_after)
    with Server("project", url, workers=args.workers, threads=args.threads, debug=args.smoke) as server:
        checked = min(20, t.deep_page - 1)
        if args.follow_all:
            deep_cursor = follow_to(server, t.deep_page)
            result["cursor_method"] = f"followed `next` from page 1 to page {t.deep_page:,}"
        elif verify_cursor(server, url, checked):
            result["cursor_method"] = (
                f"built from row {PAGE * (t.deep_page - 1):,} and checked against the `next` links followed "
                f"from page 1 to page {checked + 1}"
            )
        else:
            deep_cursor = follow_to(server, t.deep_page)
            result["cursor_method"] = f"followed `next` from page 1 to page {t.deep_page:,}"
    eps = endpoints(t, deep_cursor)

    for app in args.apps:
        requests = [
            {"name": ep.name, "path": ep.paths[app], "headers": ep.headers, "revalidate": ep.revalidate,
             "explain": ep.explain if args.explain and app == "project" else "", "cached": ep.cached}
            for ep in eps if app in ep.paths
        ]
        if app == "project":
            base = f"/api/v1/events/?district={t.district}&date_from={t.date_from}&date_to={t.date_to}"
            requests += [
                {"name": f"page_size={size}", "path": f"{base}&page_size={size}", "cached": False} for size in (10, 500)
            ]
        if app != "limit":
            counted = {}
            for cached in (False, True):  # one process with the response cache off, one with it on
                batch = [request for request in requests if request["cached"] == cached]
                if batch:
                    counted.update(count_queries(url, app, batch, debug=args.smoke, response_cache=cached))
            for item, values in counted.items():
                if values["plans"]:
                    result["plans"][item] = values["plans"]
            result["queries"][app] = {k: {"queries": v["queries"], "status": v["status"]} for k, v in counted.items()}

        result[f"peak_rss_{app}"] = run_app(app, url, eps, args, wrk, label, result)
    return result


def cancel_queries(database_url: str) -> None:
    """Cancel what the database still runs for requests a stopped server abandoned."""
    name = urlsplit(database_url).path.lstrip("/")
    pg_query(
        database_url,
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [name],
    )


def run_app(app: str, url: str, eps: list[Endpoint], args, wrk: str | None, label: str, result: dict) -> float:
    """Drive each endpoint of one application; returns the server's peak memory (MB) over all of them.

    When requests outlast a run (none finished, or p99 above half the run),
    the load generator leaves them queued in the server: it is then stopped,
    its queries cancelled, and the next endpoint gets a fresh server.
    """
    server, peak = None, 0.0
    try:
        for ep in eps:
            if app not in ep.paths:
                continue
            if server is not None and server.response_cache != ep.cached:
                server.__exit__(None, None, None)
                server = None
            if server is None:
                server = Server(
                    app, url, workers=args.workers, threads=args.threads, debug=args.smoke, response_cache=ep.cached
                ).__enter__()
            path, headers = ep.paths[app], dict(ep.headers)
            status, response_headers, body = server.get(path, headers)
            if ep.revalidate:
                headers["If-None-Match"] = response_headers.get("ETag", "")
                status, _, _ = server.get(path, headers)
            if app == "limit":
                queries = int(response_headers.get("X-SQL-Queries", "0"))
            else:
                queries = result["queries"][app].get(ep.name, {}).get("queries")
            target = server.base + path

            def drive(seconds, target=target, headers=headers):
                if wrk:
                    return run_wrk(
                        wrk, target, headers, duration=seconds, connections=args.connections, threads=args.wrk_threads
                    )
                return run_python_client(target, headers, duration=seconds, connections=args.connections)

            if args.warmup > 0:
                drive(args.warmup)
            with RssSampler(server.process.pid) as sampler:
                load = drive(args.duration)
            peak = max(peak, sampler.peak)
            row = {
                "endpoint": ep.name, "app": app, "status": status, "queries": queries,
                "bytes": len(body), "peak_rss_mb": round(sampler.peak, 1), **asdict(load),
            }
            result["rows"].append(row)
            log(
                f"{label} {app:7} {ep.name:45} {status} {load.rps:8.1f} req/s p50 {fmt(load.p50_ms)} ms "
                f"p99 {fmt(load.p99_ms)} ms, {queries} SQL, {sampler.peak:.0f} MB"
            )
            if load.requests == 0 or (load.p99_ms or 0) > args.duration * 500:
                server.__exit__(None, None, None)
                server = None
                cancel_queries(url)
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    return round(peak, 1)


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# --------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------


def measure_import(args, source_label: str, events: int) -> dict:
    """Export the synthetic database of ``source_label`` as a dataset file and import it into an empty one."""
    commands = ROOT / "timeline" / "management" / "commands"
    if not (commands / "import_timeline.py").exists() or not (commands / "export_timeline.py").exists():
        return {"measured": False, "why": "import_timeline or export_timeline does not exist"}
    source = f"{args.postgres}/{args.db_prefix}_{source_label}"
    target_name = f"{args.db_prefix}_import"
    target = f"{args.postgres}/{target_name}"
    dataset = ROOT / "artifacts" / f"bench-{source_label}.json"
    dataset.parent.mkdir(exist_ok=True)
    log(f"import: exporting {source_label} to {dataset}")
    started = time.perf_counter()
    exported = manage(source, "export_timeline", str(dataset), check=False)
    export_seconds = time.perf_counter() - started
    if exported.returncode != 0:
        return {"measured": False, "why": f"export_timeline failed: {exported.stderr.strip()[-500:]}"}
    pg_query(f"{args.postgres}/postgres", f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)')
    pg_query(f"{args.postgres}/postgres", f'CREATE DATABASE "{target_name}"')
    manage(target, "migrate", "--noinput", "-v0")
    log(f"import: importing {dataset.stat().st_size / 1e6:.0f} MB into {target_name}")
    started = time.perf_counter()
    logs = ROOT / "artifacts" / "bench-import.log"
    with logs.open("w") as out:
        process = subprocess.Popen(
            [PY, "manage.py", "import_timeline", str(dataset)], cwd=ROOT, env=django_env(target), stdout=out, stderr=out
        )
        # wait4 gives this child's own peak memory, whatever other children the benchmark ran.
        _, wait_status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(wait_status)
    seconds = time.perf_counter() - started
    peak = round(usage.ru_maxrss / 1024, 1)
    output = logs.read_text().strip()
    imported = pg_query(target, "SELECT count(*) FROM timeline_event WHERE origin = 'editorial'")[0][0]
    return {
        "measured": process.returncode == 0,
        "why": "" if process.returncode == 0 else f"import_timeline failed: {output[-500:]}",
        "events": imported,
        "source_events": events,
        "seconds": round(seconds, 1),
        "events_per_second": round(imported / seconds) if seconds else None,
        "peak_rss_mb": peak,
        "file_mb": round(dataset.stat().st_size / 1e6, 1),
        "export_seconds": round(export_seconds, 1),
        "output": (output.splitlines() or [""])[-1],
    }


# --------------------------------------------------------------------------
# Targets and the report
# --------------------------------------------------------------------------

LIST = "events list (district + dates, 100/page)"
PAGE_ONE = "events page 1 (100/page)"
HOME = "timeline page / ?district="
VISUAL = "visual timeline data /timeline.json ?district="
NOT_MODIFIED = "304 revalidation (events list)"


def _row(size: dict, endpoint: str, app: str = "project") -> dict | None:
    for row in size["rows"]:
        if row["app"] == app and (row["endpoint"] == endpoint or row["endpoint"].startswith(endpoint)):
            return row
    return None


def _ratio(a, b) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def evaluate(sizes: list[dict], imported: dict | None) -> list[tuple[str, str, str]]:
    """(target, what was measured, verdict) for every target of docs/benchmarks.md."""
    checks = []

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "**missed**")

    for size in sizes:
        label = size["label"]
        mine, limit, naive = _row(size, LIST), _row(size, LIST, "limit"), _row(size, LIST, "naive")
        vs_limit = _ratio(mine and mine["rps"], limit and limit["rps"])
        vs_naive = _ratio(mine and mine["rps"], naive and naive["rps"])
        checks.append((
            f"{label}: events list >= 0.5x the limit's throughput",
            f"{fmt(vs_limit, 2)}x ({fmt(mine and mine['rps'])} vs {fmt(limit and limit['rps'])} req/s)",
            verdict(None if vs_limit is None else vs_limit >= 0.5),
        ))
        checks.append((
            f"{label}: events list >= 3x the naive peer's throughput",
            f"{fmt(vs_naive, 2)}x ({fmt(mine and mine['rps'])} vs {fmt(naive and naive['rps'])} req/s)",
            verdict(None if vs_naive is None else vs_naive >= 3),
        ))
        first, deep = _row(size, PAGE_ONE), _row(size, "events deep page")
        slower = _ratio(deep and deep["p50_ms"], first and first["p50_ms"])
        checks.append((
            f"{label}: deep page within 1.2x of page 1 (p50)",
            f"{fmt(slower, 2)}x ({deep['endpoint'] if deep else 'deep page'}: {fmt(deep and deep['p50_ms'])} ms, "
            f"page 1: {fmt(first and first['p50_ms'])} ms)",
            verdict(None if slower is None else slower <= 1.2),
        ))
        cached = _row(size, NOT_MODIFIED)
        cheaper = _ratio(cached and cached["rps"], mine and mine["rps"])
        faster = _ratio(mine and mine["p50_ms"], cached and cached["p50_ms"])
        checks.append((
            f"{label}: a 304 at least 5x cheaper than the full response",
            f"{fmt(cheaper, 1)}x the throughput ({fmt(cached and cached['rps'])} vs {fmt(mine and mine['rps'])} req/s), "
            f"p50 {fmt(faster, 1)}x lower (anonymous 304 from the response cache vs the full list without it)",
            verdict(None if cheaper is None else cheaper >= 5),
        ))
        counts = size["queries"].get("project", {})
        small, large = counts.get("page_size=10", {}).get("queries"), counts.get("page_size=500", {}).get("queries")
        checks.append((
            f"{label}: same SQL queries per request for page sizes 10 and 500",
            f"{fmt(small)} and {fmt(large)}",
            verdict(None if small is None or large is None else small == large),
        ))
    if len(sizes) > 1:
        smallest, largest = sizes[0], sizes[-1]
        a, b = smallest["queries"].get("project", {}), largest["queries"].get("project", {})
        differ = {name: (a[name]["queries"], b[name]["queries"]) for name in a if name in b and a[name]["queries"] != b[name]["queries"]}
        checks.append((
            f"same SQL queries per request at {smallest['label']} and {largest['label']}",
            "identical for every endpoint" if not differ else "; ".join(f"{k}: {x} vs {y}" for k, (x, y) in differ.items()),
            verdict(not differ),
        ))
    if sizes:
        largest = sizes[-1]
        home, mine = _row(largest, HOME), _row(largest, LIST)
        slower = _ratio(home and home["p50_ms"], mine and mine["p50_ms"])
        checks.append((
            f"{largest['label']}: `/` filtered by district within 2x of the events list latency (p50)",
            f"{fmt(slower, 2)}x ({fmt(home and home['p50_ms'])} vs {fmt(mine and mine['p50_ms'])} ms)",
            verdict(None if slower is None else slower <= 2),
        ))
        # Not a target: the page is read before its script fetches the visual data, but a reader
        # with JavaScript costs the server both requests.
        visual = _row(largest, VISUAL)
        both = _ratio(home and visual and home["p50_ms"] + visual["p50_ms"], mine and mine["p50_ms"])
        checks.append((
            f"{largest['label']}: `/` and its visual data together vs the events list (p50, reported)",
            f"{fmt(both, 2)}x ({fmt(home and home['p50_ms'])} + {fmt(visual and visual['p50_ms'])} ms)",
            "reported" if both is not None else "not measured",
        ))
    if imported is None or not imported.get("measured"):
        why = (imported or {}).get("why", "not run (--skip-import)")
        checks.append(("import_timeline of 100,000 events at >= 5,000 events/s", why, "not measured"))
        checks.append(("import_timeline peak memory < 300 MB", why, "not measured"))
    else:
        checks.append((
            f"import_timeline of {imported['events']:,} events at >= 5,000 events/s",
            f"{imported['events_per_second']:,} events/s ({imported['seconds']} s)",
            verdict(imported["events_per_second"] >= 5000),
        ))
        checks.append((
            "import_timeline peak memory < 300 MB",
            f"{imported['peak_rss_mb']} MB", verdict(imported["peak_rss_mb"] < 300),
        ))
    return checks


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    return {"nproc": os.cpu_count(), "memory": memory, "cpu": cpu, "kernel": platform.release()}


def versions(args, wrk: str | None) -> dict:
    import django
    import gunicorn

    found = {"Python": platform.python_version(), "Django": django.get_version(), "gunicorn": gunicorn.__version__}
    with contextlib.suppress(Exception):
        found["PostgreSQL"] = pg_query(f"{args.postgres}/postgres", "SHOW server_version")[0][0]
    try:
        import orjson

        found["orjson (limit app)"] = orjson.__version__
    except ImportError:
        found["orjson (limit app)"] = "not installed (json used)"
    if wrk:
        probe = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        first = (probe.stdout or probe.stderr).split("\n")[0]
        found["wrk"] = first.split(" Copyright")[0].removeprefix("wrk ").strip()
    else:
        found["wrk"] = "not available: the Python asyncio client was used"
    return found


def render(report: dict) -> str:
    lines = [
        RESULTS_START,
        f"Measured on {report['date']} with:",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"- Machine: {report['machine']['nproc']} CPUs ({report['machine']['cpu']}), {report['machine']['memory']} "
        f"memory, Linux {report['machine']['kernel']}.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ".",
        f"- Load: {report['client']}, {report['connections']} connections, {report['duration']} s per endpoint "
        f"after a {report['warmup']} s warm-up. Servers: gunicorn gthread, {report['workers']} workers x "
        f"{report['threads']} threads, DJANGO_DEBUG=0, CONN_MAX_AGE=600, one application at a time; the load "
        "generator, the server and PostgreSQL share the same machine. The project runs with its response cache "
        f"off (RESPONSE_CACHE=0), except the rows named `{CACHED_PREFIX}…` and the 304 (local-memory cache on).",
        "",
        "### Targets",
        "",
        "| Target | Measured | Verdict |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {target} | {measured} | {verdict} |" for target, measured, verdict in report["targets"]]
    for size in report["sizes"]:
        db = size["db"]
        made = "reused" if db["reused"] else f"generated in {db.get('seconds')} s: {db.get('generation')}"
        lines += [
            "",
            f"### {size['events']:,} events",
            "",
            f"Database `{size['database']}` ({made}). {size['targets']['published']:,} published events; filtered "
            f"district `{size['targets']['district']}`, dates {size['targets']['date_from']} to "
            f"{size['targets']['date_to']}, alias `{size['targets']['alias']}`; deep page cursor "
            f"{size.get('cursor_method', '')}. Load average before the run: {size['loadavg_before']:.2f}."
            + (f" Measured by an earlier run of the same code (`{size['reused_from']}`)." if size.get("reused_from") else ""),
            "",
            "| Endpoint | App | req/s | p50 ms | p99 ms | SQL/request | Peak RSS MB | x limit | x naive | Errors |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in size["rows"]:
            limit = _row(size, row["endpoint"], "limit") if row["app"] == "project" else None
            naive = _row(size, row["endpoint"], "naive") if row["app"] == "project" else None
            lines.append(
                f"| {row['endpoint']} | {row['app']} | {fmt(row['rps'])} | {fmt(row['p50_ms'])} | {fmt(row['p99_ms'])} "
                f"| {fmt(row['queries'])} | {fmt(row['peak_rss_mb'], 0)} "
                f"| {fmt(_ratio(row['rps'], limit and limit['rps']), 2) if limit else ''} "
                f"| {fmt(_ratio(row['rps'], naive and naive['rps']), 2) if naive else ''} | {row['errors']} |"
            )
        counts = size["queries"].get("project", {})
        peaks = ", ".join(f"{app} {size[f'peak_rss_{app}']:.0f} MB" for app in APPS if f"peak_rss_{app}" in size)
        lines += [
            "",
            f"Project SQL per events-list request: page_size=10: {fmt(counts.get('page_size=10', {}).get('queries'))}, "
            f"page_size=100: {fmt(counts.get(LIST, {}).get('queries'))}, "
            f"page_size=500: {fmt(counts.get('page_size=500', {}).get('queries'))}. "
            f"Peak server memory over the whole size: {peaks}.",
        ]
    imported = report.get("import")
    lines += ["", "### Import", ""]
    if imported and imported.get("measured"):
        lines.append(
            f"`export_timeline` wrote the {imported['source_events']:,}-event database as a {imported['file_mb']} MB "
            f"file in {imported['export_seconds']} s; `import_timeline` read it into an empty database in "
            f"{imported['seconds']} s ({imported['events_per_second']:,} events/s, {imported['events']:,} events), "
            f"peak RSS {imported['peak_rss_mb']} MB. Its last line: `{imported['output']}`."
        )
    else:
        lines.append(f"Not measured: {(imported or {}).get('why', 'run with --skip-import')}.")
    if report.get("plans"):
        lines += ["", f"### EXPLAIN (ANALYZE, BUFFERS) at {report['sizes'][-1]['events']:,} events", ""]
        for endpoint, plans in report["plans"].items():
            for n, plan in enumerate(plans, start=1):
                lines += [f"{endpoint}, statement {n}:", "", "```sql", plan["sql"], "```", "", "```", plan["plan"], "```", ""]
    lines.append(RESULTS_END)
    return "\n".join(lines) + "\n"


def write_report(path: Path, text: str) -> None:
    """Replace the results between the markers of ``path`` (or append them), keeping the rest."""
    current = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if RESULTS_START in current and RESULTS_END in current:
        head, rest = current.split(RESULTS_START, 1)
        tail = rest.split(RESULTS_END, 1)[1]
        current = head + text.rstrip("\n") + tail
    else:
        current = current.rstrip("\n") + "\n\n## Results\n\n" + text
    path.write_text(current)


def collect_static(args) -> None:
    """The pages need the static files manifest with DEBUG off; collected again only when a file changed."""
    manifest = ROOT / "staticfiles" / "staticfiles.json"
    newest = max((f.stat().st_mtime for f in (ROOT / "static").rglob("*") if f.is_file()), default=0)
    if manifest.exists() and manifest.stat().st_mtime >= newest:
        return
    log("collectstatic (the pages need the manifest with DEBUG off)")
    manage(f"{args.postgres}/postgres", "collectstatic", "--noinput", "-v0")


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10k,100k,1m", help="Comma-separated event counts, e.g. 10k,100k,1m (default).")
    p.add_argument("--duration", type=float, default=10.0, help="Seconds of load per endpoint and application.")
    p.add_argument("--warmup", type=float, default=2.0, help="Seconds of load before each measured run.")
    p.add_argument("--connections", type=int, default=8, help="Open connections of the load generator.")
    p.add_argument("--wrk-threads", type=int, default=2)
    # As README.md deploys it: two workers per core of two threads each. With four threads a worker,
    # the project's threads queued for the GIL while the CPUs were not full (1.5 of 2 busy); the
    # limit's throughput is the same either way (docs/benchmarks.md, "Server settings").
    p.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1),
                   help="gunicorn workers (default: two per core).")
    p.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker.")
    p.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--apps", default=",".join(APPS), help="Which of project,limit,naive to serve.")
    p.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", DEFAULT_POSTGRES),
                   help="PostgreSQL server URL without a database name.")
    p.add_argument("--db-prefix", default="conflict_bench", help="Databases are named PREFIX_SIZE.")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--import-size", default="100k", help="Size whose database is exported and re-imported.")
    p.add_argument("--skip-import", action="store_true")
    p.add_argument("--no-explain", dest="explain", action="store_false")
    p.add_argument("--follow-all", action="store_true", help="Reach the deep page by following every next link.")
    p.add_argument("--reuse-results", type=Path, metavar="JSON",
                   help="Take the sizes already measured in this raw results file instead of measuring them again.")
    p.add_argument("--smoke", action="store_true",
                   help="Check that the benchmark runs (DEBUG on, no collectstatic); the figures mean nothing.")
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--json", type=Path, default=ROOT / "artifacts" / "bench.json", help="Raw results.")
    return p


def publish(args, argv, wrk, client, results: list[dict], imported: dict | None) -> dict:
    """Write the report (docs/benchmarks.md) and the raw results (JSON) for what was measured so far."""
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "versions": versions(args, wrk),
        "client": client if not wrk else f"wrk ({args.wrk_threads} threads)",
        "connections": args.connections,
        "duration": args.duration,
        "warmup": args.warmup,
        "workers": args.workers,
        "threads": args.threads,
        "sizes": results,
        "import": imported,
        "plans": results[-1]["plans"] if results else {},
    }
    report["targets"] = evaluate(results, imported)
    write_report(args.output, render(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str))
    return report


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    try:
        sizes = [parse_size(raw) for raw in args.sizes.split(",") if raw.strip()]
    except argparse.ArgumentTypeError as error:
        parser().error(str(error))
    args.apps = [app.strip() for app in args.apps.split(",") if app.strip()]
    if unknown := set(args.apps) - set(APPS):
        parser().error(f"Unknown app(s) {', '.join(sorted(unknown))}; choose from {', '.join(APPS)}.")
    if "project" not in args.apps:
        parser().error("--apps must include project: the others are measured against it.")
    if not postgres_reachable(args.postgres):
        raise SystemExit(f"PostgreSQL is not reachable at {args.postgres}; the benchmark needs it.")
    wrk = None if args.client == "python" else wrk_available(install=True)
    if args.client == "wrk" and not wrk:
        raise SystemExit("wrk is not installed and could not be installed; use --client python.")
    client = "wrk" if wrk else "the Python asyncio client (bench/run.py; wrk is not available)"
    if not wrk:
        log("wrk is not available: using the Python asyncio client instead")
    if not args.smoke:
        collect_static(args)

    earlier = {}
    if args.reuse_results:
        earlier = {size["label"]: size for size in json.loads(args.reuse_results.read_text())["sizes"]}
    results = []
    for label, events in sizes:
        if label in earlier and earlier[label]["events"] == events:
            log(f"{label}: results taken from {args.reuse_results}")
            results.append({**earlier[label], "reused_from": str(args.reuse_results.name)})
            continue
        results.append(bench_size(label, events, args, wrk))
        publish(args, argv, wrk, client, results, None)  # a later failure keeps what was measured
    imported = None
    if not args.skip_import:
        labels = dict(sizes)
        import_label, import_events = parse_size(args.import_size)
        if import_label not in labels:
            ensure_database(args.postgres, f"{args.db_prefix}_{import_label}", import_events, args.seed)
        imported = measure_import(args, import_label, import_events)
        log(f"import: {imported}")
    report = publish(args, argv, wrk, client, results, imported)
    log(f"report written to {args.output} (raw results: {args.json})")
    for target, measured, verdict in report["targets"]:
        log(f"{verdict:>12}  {target}: {measured}")
    return report


if __name__ == "__main__":
    main()
