# ruff: noqa: S603, S608 - runs its own fixed commands (pg_basebackup, pg_ctl, runuser, pytest); no user SQL
"""A real PostgreSQL streaming replica of the local cluster, and the proof that the site reads it.

    python -m bench.replica start [--port 5433] [--configure-primary]
    python -m bench.replica status
    python -m bench.replica check [--keep] [--no-outage] [--no-pytest]   # what `make replica-check` runs
    python -m bench.replica stop

``start`` copies the running primary (default ``postgres://postgres@127.0.0.1:5432``) with
``pg_basebackup -R -X stream`` into ``/tmp/conflict-replica-<port>``, as the ``postgres`` OS
user (through ``runuser`` when run as root), and starts that copy as a hot standby on its own
port with ``pg_ctl``. It returns once the standby accepts connections, says
``pg_is_in_recovery()`` and its WAL receiver is streaming. ``stop`` stops it and removes its
directory (only a directory this script created: it holds a ``CONFLICT_BENCH_REPLICA`` marker).

The primary must allow it: ``wal_level`` replica or logical, ``max_wal_senders`` > 0, and a
``pg_hba.conf`` line for replication connections from 127.0.0.1 (``all`` in the database column
does not cover them). When that line is missing ``start`` prints the exact line and exits 2;
with ``--configure-primary`` it appends it and reloads the primary, giving replication the
authentication method the primary already uses for ordinary connections from 127.0.0.1 (so
nobody gains an access they did not have), and refuses when there is no such rule to copy.
No replication slot is made: a slot that outlives a forgotten replica keeps WAL on the primary
for ever; a replica that falls too far behind is simply stopped and started again.

``check`` starts the replica when it is not running (and stops it afterwards unless ``--keep``),
fills its own database (``conflict_replica_check``: migrations and the demo data) on the
primary, waits until the replica has replayed it, and runs the real application in-process
(Django's test client, ``conflict.settings_test``) with ``DATABASE_URL`` on the primary and
``DATABASE_REPLICA_URLS`` on the replica. It shows, with the SQL statements counted per
database alias and each alias' ``inet_server_port()`` and ``pg_is_in_recovery()``:

1. an anonymous GET reads the replica only; a staff GET (API token) the primary only;
2. under 8 threads mixing both kinds, no request reads the other kind's database;
3. a staff write is seen by the same staff member's next read at once (read-your-writes);
4. an anonymous reader sees it after replication: the lag, app-visible and in WAL replay;
5. (unless ``--no-outage``) with the replica stopped, anonymous reads are answered by the
   primary, and go back to the replica once it is up again; a replica connection killed in
   the middle of a request (``pg_terminate_backend``) is answered again from the primary;
6. (unless ``--no-pytest``) ``timeline/tests/test_replicas.py`` with ``REPLICA_TEST_URL`` set.

Exit status 0 when every step held, 1 otherwise. The figures go to standard output and
``artifacts/replica/check.json``.
"""

import argparse
import io
import json
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PRIMARY = "postgres://postgres@127.0.0.1:5432"
DEFAULT_PORT = 5433
MARKER = "CONFLICT_BENCH_REPLICA"
CHECK_DB = "conflict_replica_check"
DEMO = ROOT / "data" / "nagorno-karabakh-2020.json"
ARTIFACTS = ROOT / "artifacts" / "replica"
# Settings a hot standby must hold at least at the primary's value, or it refuses to start.
STANDBY_MINIMUMS = ("max_connections", "max_worker_processes", "max_wal_senders",
                    "max_prepared_transactions", "max_locks_per_transaction")


class Refused(Exception):
    """A precondition does not hold; the message says what to do (exit status 2)."""


def log(message: str) -> None:
    print(f"[replica {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------
# PostgreSQL helpers
# --------------------------------------------------------------------------


def connect(url: str, dbname: str = "postgres", **kwargs):
    import psycopg2

    parts = urlsplit(url)
    conn = psycopg2.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                            user=parts.username or "postgres", password=parts.password or None,
                            dbname=dbname, connect_timeout=3, **kwargs)
    if "connection_factory" not in kwargs:  # a replication connection has no transactions to commit
        conn.autocommit = True
    return conn


def query(url: str, sql: str, params=(), dbname: str = "postgres") -> list[tuple]:
    conn = connect(url, dbname)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        conn.close()


def replica_url(primary: str, port: int) -> str:
    parts = urlsplit(primary)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return f"{parts.scheme}://{auth}127.0.0.1:{port}"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a PostgreSQL program as the postgres OS user (which must own a data directory)."""
    postgres = pwd.getpwnam("postgres")
    if os.geteuid() == postgres.pw_uid:
        command = args
    elif os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *args]
    else:
        raise Refused("Run this as root or as the postgres user: the replica's files belong to postgres.")
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


def pg_bin(primary: str, explicit: str | None, directory: Path | None = None) -> Path:
    """The PostgreSQL programs of the replica's version (its PG_VERSION file, else the primary's)."""
    if explicit:
        return Path(explicit)
    if directory is not None and (directory / "PG_VERSION").exists():
        major = int((directory / "PG_VERSION").read_text().strip())
    else:
        major = int(query(primary, "SHOW server_version_num")[0][0]) // 10000
    path = Path(f"/usr/lib/postgresql/{major}/bin")
    if not (path / "pg_basebackup").exists():
        raise Refused(f"No PostgreSQL {major} programs in {path}; give --pg-bin.")
    return path


# --------------------------------------------------------------------------
# The primary's side
# --------------------------------------------------------------------------


def replication_allowed(primary: str) -> tuple[bool, str]:
    """(allowed, error) from a real replication connection's IDENTIFY_SYSTEM."""
    import psycopg2
    from psycopg2.extras import PhysicalReplicationConnection

    try:
        conn = connect(primary, connection_factory=PhysicalReplicationConnection)
    except psycopg2.OperationalError as exc:
        return False, str(exc).strip()
    try:
        with conn.cursor() as cursor:
            cursor.execute("IDENTIFY_SYSTEM")
    finally:
        conn.close()
    return True, ""


def local_rule_method(primary: str) -> str | None:
    """The auth method of the primary's first pg_hba rule for ordinary TCP connections from 127.0.0.1."""
    user = urlsplit(primary).username or "postgres"
    rows = query(primary, "SELECT type, database, user_name, address, netmask, auth_method "
                          "FROM pg_hba_file_rules WHERE error IS NULL ORDER BY line_number")
    import ipaddress

    for kind, databases, users, address, netmask, method in rows:
        if kind not in ("host", "hostnossl") or not ({"all", "postgres"} & set(databases or [])):
            continue
        if not ({"all", user} & set(users or [])):
            continue
        if address in ("all", "samehost", "samenet") or (
            address and netmask and ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network(f"{address}/{netmask}", strict=False)
        ):
            return method
    return None


def check_primary(primary: str, configure: bool) -> None:
    settings = dict(query(primary, "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_wal_senders')"))
    if settings["wal_level"] not in ("replica", "logical"):
        raise Refused(f"The primary has wal_level={settings['wal_level']}: set wal_level = replica in its "
                      "postgresql.conf and restart it.")
    if int(settings["max_wal_senders"]) < 1:
        raise Refused("The primary has max_wal_senders = 0: set it to 10 in its postgresql.conf and restart it.")
    allowed, error = replication_allowed(primary)
    if allowed:
        return
    hba_file = query(primary, "SHOW hba_file")[0][0]
    user = urlsplit(primary).username or "postgres"
    method = local_rule_method(primary)
    line = f"host    replication     {user:<15} 127.0.0.1/32            {method or 'scram-sha-256'}"
    if "pg_hba.conf" not in error and "replication" not in error:
        raise Refused(f"A replication connection to the primary failed: {error}")
    if not configure or method is None:
        raise Refused(
            f"The primary refuses replication connections from 127.0.0.1 ({error}).\n"
            f"Add this line to {hba_file}:\n\n    {line}\n\n"
            f"then reload it: psql -h 127.0.0.1 -U {user} -c 'SELECT pg_reload_conf()'\n"
            + ("or run again with --configure-primary to have this script do both." if method else
               "(no rule for ordinary connections from 127.0.0.1 to copy the method from: choose one).")
        )
    with open(hba_file, "a", encoding="utf-8") as hba:
        hba.write(f"\n# Added by conflict-timeline bench/replica.py --configure-primary: a local streaming replica,\n"
                  f"# with the method this file already gives ordinary connections from 127.0.0.1.\n{line}\n")
    query(primary, "SELECT pg_reload_conf()")
    log(f"added to {hba_file} and reloaded: {line}")
    for _ in range(50):  # the reload is asynchronous
        if replication_allowed(primary)[0]:
            return
        time.sleep(0.1)
    raise Refused(f"Replication is still refused after adding the line to {hba_file}: {replication_allowed(primary)[1]}")


# --------------------------------------------------------------------------
# The replica
# --------------------------------------------------------------------------


def data_dir(args) -> Path:
    return Path(args.dir or f"/tmp/conflict-replica-{args.port}")  # noqa: S108 - postgres must reach it


def log_file(directory: Path) -> Path:
    return directory.with_name(directory.name + ".log")


def is_running(directory: Path, bin_dir: Path) -> bool:
    if not (directory / MARKER).exists():
        return False
    return as_postgres([str(bin_dir / "pg_ctl"), "-D", str(directory), "status"]).returncode == 0


def standby_conf(primary: str, directory: Path, port: int) -> str:
    minimums = dict(query(primary, "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(STANDBY_MINIMUMS)]))
    lines = [
        "# Written by conflict-timeline bench/replica.py: a local hot standby for benchmarks and checks.",
        f"port = {port}",
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = '{directory}'",
        "hot_standby = on",
        # Long anonymous reads are not cancelled by the primary's vacuum (recovery conflicts);
        # the primary keeps the rows they need a little longer instead.
        "hot_standby_feedback = on",
        f"cluster_name = 'conflict-replica-{port}'",
        f"hba_file = '{directory / 'pg_hba.conf'}'",
        f"ident_file = '{directory / 'pg_ident.conf'}'",
        "shared_buffers = 32MB",
        # The base backup is taken with --no-sync; one syncfs() at start-up makes it durable in
        # well under a second, where the default walks and fsyncs every file (20+ s for 1.8 GB).
        "recovery_init_sync_method = syncfs",
        "logging_collector = off",
        "log_line_prefix = '%m [%p] %q%u@%d '",
        *(f"{name} = {value}" for name, value in sorted(minimums.items())),
    ]
    return "\n".join(lines) + "\n"


def wait_streaming(url: str, timeout: float) -> float:
    """Seconds until the standby accepts connections, is in recovery and streams from the primary."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            rows = query(url, "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)")
        except Exception as exc:
            last = str(exc).strip().splitlines()[0]
        else:
            recovering, status = rows[0]
            if recovering and status == "streaming":
                return time.monotonic() - started
            last = f"pg_is_in_recovery()={recovering}, WAL receiver {status or 'not running'}"
        time.sleep(0.1)
    raise Refused(f"The replica did not start streaming within {timeout:.0f} s ({last}).")


def start(args) -> dict:
    """Create and start the replica; a running one is left as it is. Returns the timings."""
    primary = args.primary
    directory = data_dir(args)
    bin_dir = pg_bin(primary, args.pg_bin)
    url = replica_url(primary, args.port)
    if is_running(directory, bin_dir):
        log(f"already running: {directory} on port {args.port}")
        return {"already_running": True}
    if port_open(args.port):
        raise Refused(f"Something else listens on 127.0.0.1:{args.port}; choose another --port.")
    if directory.exists():
        if not (directory / MARKER).exists():
            raise Refused(f"{directory} exists and was not made by this script; remove it or choose --dir.")
        shutil.rmtree(directory)  # a stopped replica of ours: start afresh
    began = time.monotonic()
    check_primary(primary, args.configure_primary)

    directory.mkdir(mode=0o700, parents=True)
    postgres = pwd.getpwnam("postgres")
    os.chown(directory, postgres.pw_uid, postgres.pw_gid)
    parts = urlsplit(primary)
    conninfo = f"host={parts.hostname or '127.0.0.1'} port={parts.port or 5432} user={parts.username or 'postgres'}"
    if parts.password:
        conninfo += f" password={parts.password}"
    backup_began = time.monotonic()
    result = as_postgres([str(bin_dir / "pg_basebackup"), "-d", conninfo, "-D", str(directory),
                          "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"], timeout=args.timeout)
    if result.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise Refused(f"pg_basebackup failed: {result.stderr.strip()}")
    backup_seconds = time.monotonic() - backup_began

    # A Debian cluster keeps its configuration in /etc, so the copy has none: give it its own,
    # with the primary's client authentication rules.
    hba_file, ident_file = (query(primary, f"SHOW {name}")[0][0] for name in ("hba_file", "ident_file"))
    conf = directory / "postgresql.conf"
    existing = conf.read_text(encoding="utf-8") if conf.exists() else ""
    conf.write_text(existing + standby_conf(primary, directory, args.port), encoding="utf-8")
    for source, name in ((hba_file, "pg_hba.conf"), (ident_file, "pg_ident.conf")):
        target = directory / name
        if Path(source) != target:
            if Path(source).exists():
                shutil.copyfile(source, target)
            else:
                target.write_text("")
    (directory / MARKER).write_text(f"port {args.port}, primary {conninfo}, made {time.ctime()}\n", encoding="utf-8")
    for path in directory.iterdir():
        if path.is_file():
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
            path.chmod(0o600)
    log_path = log_file(directory)
    log_path.touch()
    os.chown(log_path, postgres.pw_uid, postgres.pw_gid)

    start_began = time.monotonic()
    result = as_postgres([str(bin_dir / "pg_ctl"), "-D", str(directory), "-l", str(log_path), "-w", "-t",
                          str(int(args.timeout)), "-o", f"-p {args.port} -c hot_standby=on", "start"])
    if result.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise Refused("pg_ctl start failed: " + result.stdout.strip() + "\n" + "\n".join(tail))
    streaming_seconds = wait_streaming(url, args.timeout)
    timings = {
        "base_backup_s": round(backup_seconds, 2),
        "start_to_streaming_s": round(time.monotonic() - start_began, 2),
        "wait_streaming_s": round(streaming_seconds, 2),
        "total_s": round(time.monotonic() - began, 2),
        "cluster_bytes": int(query(primary, "SELECT sum(pg_database_size(oid)) FROM pg_database")[0][0]),
    }
    log(f"replica streaming on 127.0.0.1:{args.port} from {parts.hostname}:{parts.port or 5432} "
        f"in {timings['total_s']} s (pg_basebackup {timings['base_backup_s']} s of "
        f"{timings['cluster_bytes'] / 1e6:.0f} MB, start to streaming {timings['start_to_streaming_s']} s); "
        f"data in {directory}, log {log_path}")
    log(f"use it with DATABASE_REPLICA_URLS={url}/<database> (the same database name as DATABASE_URL)")
    return timings


def stop(args) -> None:
    directory = data_dir(args)
    if not directory.exists():
        log(f"nothing to stop: {directory} does not exist")
        return
    if not (directory / MARKER).exists():
        raise Refused(f"{directory} was not made by this script; not touching it.")
    bin_dir = pg_bin(args.primary, args.pg_bin, directory)
    if is_running(directory, bin_dir):
        result = as_postgres([str(bin_dir / "pg_ctl"), "-D", str(directory), "-m", "fast", "-w", "stop"])
        if result.returncode != 0:
            raise Refused(f"pg_ctl stop failed: {result.stderr.strip() or result.stdout.strip()}")
    shutil.rmtree(directory)
    log_file(directory).unlink(missing_ok=True)
    log(f"stopped and removed {directory}")


def lag_bytes(primary: str, replica: str) -> int | None:
    current = query(primary, "SELECT pg_current_wal_lsn()::text")[0][0]
    return query(replica, "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())::bigint", [current])[0][0]


def status(args) -> int:
    directory = data_dir(args)
    bin_dir = pg_bin(args.primary, args.pg_bin, directory)
    url = replica_url(args.primary, args.port)
    if not is_running(directory, bin_dir):
        log(f"not running ({directory})")
        return 1
    recovering, receiver = query(url, "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)")[0]
    rows = query(args.primary, "SELECT state, replay_lag::text FROM pg_stat_replication WHERE application_name = %s",
                 [f"conflict-replica-{args.port}"])
    log(f"running on 127.0.0.1:{args.port}: pg_is_in_recovery()={recovering}, WAL receiver {receiver}, "
        f"{lag_bytes(args.primary, url)} bytes behind the primary; primary sees it as {rows or 'absent'}")
    return 0


# --------------------------------------------------------------------------
# check: the application against the real replica
# --------------------------------------------------------------------------


def wait_replayed(primary: str, replica: str, target: str | None = None, timeout: float = 30.0) -> float:
    """Seconds until the replica has replayed ``target``, by default the primary's WAL position now."""
    target = target or query(primary, "SELECT pg_current_wal_lsn()::text")[0][0]
    conn = connect(replica)
    began = time.perf_counter()
    try:
        with conn.cursor() as cursor:
            while time.perf_counter() - began < timeout:
                cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
                if cursor.fetchone()[0]:
                    return time.perf_counter() - began
                time.sleep(0.0002)
    finally:
        conn.close()
    raise Refused(f"The replica had not replayed {target} after {timeout:.0f} s.")


class Checker:
    """Runs the application in this process against the primary and the replica."""

    def __init__(self, primary: str, replica: str, port: int, bin_dir: Path, directory: Path):
        self.primary, self.replica, self.port = primary, replica, port
        self.bin_dir, self.directory = bin_dir, directory
        self.results: dict = {}
        self.failures: list[str] = []

    def expect(self, condition: bool, what: str) -> None:
        log(("ok     " if condition else "FAILED ") + what)
        if not condition:
            self.failures.append(what)

    def prepare(self) -> None:
        query(self.primary, f'DROP DATABASE IF EXISTS "{CHECK_DB}" WITH (FORCE)')
        query(self.primary, f'CREATE DATABASE "{CHECK_DB}"')
        os.environ.update(
            DJANGO_SETTINGS_MODULE="conflict.settings_test",
            DATABASE_URL=f"{self.primary}/{CHECK_DB}",
            DATABASE_REPLICA_URLS=f"{self.replica}/{CHECK_DB}",
            DATABASE_REPLICA_RETRY_SECONDS="2",
            DJANGO_LOG_LEVEL="WARNING",
        )
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("import_timeline", str(DEMO), verbosity=0, stdout=io.StringIO())
        log(f"database {CHECK_DB} migrated and the demo data imported on the primary; "
            f"replica caught up in {wait_replayed(self.primary, self.replica) * 1000:.1f} ms")
        from django.contrib.auth.models import Group, Permission, User
        from rest_framework.authtoken.models import Token

        editor = User.objects.create_user("replica-check-editor", is_staff=True)
        editor.user_permissions.set(Permission.objects.filter(content_type__app_label="timeline"))
        editor.groups.add(*Group.objects.filter(name="Administrators"))
        self.token = Token.objects.create(user=editor).key
        wait_replayed(self.primary, self.replica)

    def request(self, method: str, path: str, *, staff: bool = False, **kwargs):
        """(response, {alias: statements}) for one request through the whole middleware stack."""
        from django.db import connections
        from django.test import Client

        client = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)
        headers = {"HTTP_AUTHORIZATION": f"Token {self.token}"} if staff else {}
        counts = dict.fromkeys(connections, 0)

        def counter(alias):
            def wrapper(execute, sql, params, many, context):
                counts[alias] += 1
                return execute(sql, params, many, context)
            return wrapper

        from contextlib import ExitStack

        with ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(counter(alias)))
            response = getattr(client, method)(path, **headers, **kwargs)
        return response, counts

    def server_of(self, alias: str) -> tuple[int, bool]:
        from django.db import connections

        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT inet_server_port(), pg_is_in_recovery()")
            return cursor.fetchone()

    def routing(self) -> None:
        from django.conf import settings

        replica_alias = settings.DATABASE_REPLICAS[0]
        self.expect(self.server_of(replica_alias) == (self.port, True),
                    f"alias {replica_alias} is the standby: inet_server_port()={self.port}, pg_is_in_recovery()=true")
        self.expect(self.server_of("default")[1] is False, "alias default is the primary: pg_is_in_recovery()=false")
        from django.test import override_settings

        routes = {}
        paths = (("API events list", "/api/v1/events/"), ("timeline page", "/"), ("agreement list page", "/agreements/"))
        # The response cache off, so that every statement of a full answer is counted.
        with override_settings(TIMELINE_RESPONSE_CACHE=False):
            for name, path in paths:
                self.request("get", path)  # warm-up: per-process caches as in a running server
                anonymous, anonymous_counts = self.request("get", path)
                staff, staff_counts = self.request("get", path, staff=True)
                routes[name] = {"anonymous": anonymous_counts, "staff": staff_counts}
                self.expect(anonymous.status_code == 200 and anonymous_counts[replica_alias] > 0
                            and anonymous_counts["default"] == 0,
                            f"anonymous GET {path}: {anonymous.status_code}, statements {anonymous_counts}")
                self.expect(staff.status_code == 200 and staff_counts["default"] > 0
                            and staff_counts[replica_alias] == 0,
                            f"staff GET {path}: {staff.status_code}, statements {staff_counts}")
            head, head_counts = self.request("head", "/api/v1/events/")
            self.expect(head.status_code == 200 and head_counts["default"] == 0 and head_counts[replica_alias] > 0,
                        f"anonymous HEAD /api/v1/events/: statements {head_counts}")
        self.request("get", "/api/v1/events/")
        hit, hit_counts = self.request("get", "/api/v1/events/")
        self.expect(hit.status_code == 200 and hit_counts == {"default": 0, replica_alias: 1},
                    f"with the response cache on, a cached anonymous answer costs its one record-clock read, "
                    f"on the replica: {hit_counts}")
        self.results["routing"] = routes

    def threads(self) -> None:
        """Anonymous and staff requests interleaved on 8 threads, as gunicorn's gthread serves them."""
        from concurrent.futures import ThreadPoolExecutor

        from django.conf import settings
        from django.db import connections

        replica_alias = settings.DATABASE_REPLICAS[0]

        def one(n):
            try:
                staff = n % 2 == 1
                response, counts = self.request("get", "/api/v1/parties/", staff=staff)
                leaked = counts[replica_alias] if staff else counts["default"]
                return response.status_code == 200 and leaked == 0
            finally:
                connections.close_all()

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(one, range(80)))
        self.expect(all(outcomes), f"80 requests on 8 threads, half staff: {outcomes.count(True)} routed right")

    def writes(self, rounds: int) -> None:
        """Read-your-writes for staff, then the replication lag as readers and as WAL replay see it."""
        from timeline.models import Party

        slug = Party.objects.order_by("slug").values_list("slug", flat=True).first()
        path = f"/api/v1/parties/{slug}/"
        serial = iter(range(1_000_000))

        def staff_write() -> tuple[str, float]:
            marker = f"R{os.getpid() % 1000}-{next(serial)}"
            written, _ = self.request("patch", path, staff=True, content_type="application/json",
                                      data={"short_name": marker, "public_note": "Replica check."}, HTTP_IF_MATCH="*")
            if written.status_code != 200:
                raise Refused(f"The staff PATCH of {path} answered {written.status_code}: {written.content[:300]!r}")
            return marker, time.perf_counter()

        marker, _ = staff_write()
        staff_read, staff_counts = self.request("get", path, staff=True)
        self.expect(staff_read.json().get("short_name") == marker and staff_counts["replica_1"] == 0,
                    f"staff PATCH {path} then staff GET at once: sees {staff_read.json().get('short_name')!r} "
                    f"(read-your-writes, from the primary: {staff_counts})")

        # As readers see it: anonymous GETs from the moment the PATCH returned until one shows it.
        visible_ms, stale_answers = [], []
        for _ in range(rounds):
            marker, committed = staff_write()
            stale = 0
            while self.request("get", path)[0].json().get("short_name") != marker:
                stale += 1
                if time.perf_counter() - committed > 10:
                    self.expect(False, f"anonymous GET {path} saw a staff write within 10 s")
                    return
            visible_ms.append((time.perf_counter() - committed) * 1000)
            stale_answers.append(stale)
        # As WAL replay: from the PATCH's return to the replica's replay of the primary's position then.
        replay_ms = []
        for _ in range(rounds):
            staff_write()
            target = query(self.primary, "SELECT pg_current_wal_lsn()::text")[0][0]
            replay_ms.append(wait_replayed(self.primary, self.replica, target, timeout=10) * 1000)
        self.expect(True, f"anonymous GET {path} saw each of {rounds} staff writes after replication: "
                          f"{sum(1 for n in stale_answers if n)} of {rounds} times after at least one stale answer "
                          f"({sum(stale_answers)} stale answers in all); first fresh answer p50 "
                          f"{statistics.median(visible_ms):.1f} ms, max {max(visible_ms):.1f} ms after the PATCH")
        log(f"       WAL replay after a staff write: p50 {statistics.median(replay_ms):.2f} ms, "
            f"max {max(replay_ms):.2f} ms ({rounds} writes; includes one query to the primary for its position)")
        self.results["lag"] = {
            "rounds": rounds,
            "first_fresh_anonymous_answer_ms": {"p50": round(statistics.median(visible_ms), 2),
                                                "max": round(max(visible_ms), 2), "min": round(min(visible_ms), 2)},
            "stale_anonymous_answers": stale_answers,
            "wal_replay_ms": {"p50": round(statistics.median(replay_ms), 2), "max": round(max(replay_ms), 2),
                              "min": round(min(replay_ms), 2)},
            "note": "first fresh answer: from the end of the staff PATCH to the end of the first anonymous GET "
                    "showing it, so it includes that GET's own time (an upper bound of the lag readers see)",
        }

    def outage(self) -> None:
        from django.db import connections

        from conflict import db_routers

        ctl = [str(self.bin_dir / "pg_ctl"), "-D", str(self.directory)]
        stopped = as_postgres([*ctl, "-m", "fast", "-w", "stop"])
        self.expect(stopped.returncode == 0, "replica stopped (pg_ctl stop -m fast)")
        began = time.perf_counter()
        first, first_counts = self.request("get", "/api/v1/events/")
        first_ms = (time.perf_counter() - began) * 1000
        self.expect(first.status_code == 200 and first_counts["default"] > 0,
                    f"replica down: anonymous GET answered {first.status_code} by the primary in {first_ms:.0f} ms "
                    f"(statements {first_counts})")
        began = time.perf_counter()
        second, second_counts = self.request("get", "/api/v1/events/")
        self.expect(second.status_code == 200 and second_counts["default"] > 0,
                    f"next anonymous GET goes straight to the primary ({(time.perf_counter() - began) * 1000:.0f} ms, "
                    "the replica is not retried for DATABASE_REPLICA_RETRY_SECONDS)")
        began = time.perf_counter()
        result = as_postgres([*ctl, "-l", str(log_file(self.directory)), "-w", "-o", f"-p {self.port}", "start"])
        restart_s = wait_streaming(self.replica, 60) + (time.perf_counter() - began)
        self.expect(result.returncode == 0, f"replica started again, streaming after {restart_s:.1f} s")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            back, back_counts = self.request("get", "/api/v1/events/")
            if back_counts["replica_1"] > 0:
                break
            time.sleep(0.5)
        self.expect(back.status_code == 200 and back_counts["replica_1"] > 0 and back_counts["default"] == 0,
                    f"anonymous reads are back on the replica once it is up ({back_counts})")

        # A replica connection cut in the middle of a request: answered again from the primary.
        killer = connect(self.replica)
        killed = []

        def kill_on_first(execute, sql, params, many, context):
            if not killed:
                pid = connections["replica_1"].connection.get_backend_pid()
                with killer.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                killed.append(pid)
            return execute(sql, params, many, context)

        db_routers.forget_failures()
        with connections["replica_1"].execute_wrapper(kill_on_first):
            cut, cut_counts = self.request("get", "/api/v1/events/")
        killer.close()
        self.expect(bool(killed) and cut.status_code == 200 and cut_counts["default"] > 0,
                    f"replica backend {killed[0] if killed else '?'} terminated mid-request: answered "
                    f"{cut.status_code} from the primary ({cut_counts})")
        self.results["outage"] = {"first_request_ms": round(first_ms, 1), "restart_to_streaming_s": round(restart_s, 2)}


def check(args) -> int:
    directory = data_dir(args)
    bin_dir = pg_bin(args.primary, args.pg_bin)
    replica = replica_url(args.primary, args.port)
    started_here = not is_running(directory, bin_dir)
    timings = start(args)
    try:
        checker = Checker(args.primary, replica, args.port, bin_dir, directory)
        checker.results["start"] = timings
        checker.prepare()
        checker.routing()
        checker.threads()
        checker.writes(args.rounds)
        if not args.no_outage:
            checker.outage()
        from django.db import connections

        connections.close_all()
        if not args.no_pytest:
            env = {**os.environ, "DATABASE_URL": f"{args.primary}/{CHECK_DB}",
                   "REPLICA_TEST_URL": replica, "DJANGO_SETTINGS_MODULE": "conflict.settings_test"}
            env.pop("DATABASE_REPLICA_URLS", None)
            result = subprocess.run([sys.executable, "-m", "pytest", "timeline/tests/test_replicas.py", "-q",
                                     "-p", "no:cacheprovider"], cwd=ROOT, env=env, check=False,
                                    capture_output=True, text=True)
            summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
            checker.expect(result.returncode == 0 and "skipped" not in summary,
                           f"pytest timeline/tests/test_replicas.py against the replica: {summary}")
            if result.returncode != 0:
                print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "check.json").write_text(json.dumps(checker.results, indent=2, default=str), encoding="utf-8")
        query(args.primary, f'DROP DATABASE IF EXISTS "{CHECK_DB}" WITH (FORCE)')
    finally:
        if started_here and not args.keep:
            stop(args)
    if checker.failures:
        log(f"{len(checker.failures)} check(s) FAILED")
        return 1
    log(f"every check held; figures in {ARTIFACTS / 'check.json'}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replica", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "check"])
    parser.add_argument("--primary", default=os.environ.get("BENCH_POSTGRES", DEFAULT_PRIMARY),
                        help=f"the primary, without a database name (default {DEFAULT_PRIMARY})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the replica's port (default {DEFAULT_PORT})")
    parser.add_argument("--dir", help="the replica's data directory (default /tmp/conflict-replica-PORT)")
    parser.add_argument("--pg-bin", help="PostgreSQL programs (default /usr/lib/postgresql/<primary's major>/bin)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds allowed for the base backup and start")
    parser.add_argument("--configure-primary", action="store_true",
                        help="add the missing pg_hba.conf replication line for 127.0.0.1 and reload the primary")
    parser.add_argument("--keep", action="store_true", help="check: leave a replica it started running")
    parser.add_argument("--no-outage", action="store_true", help="check: skip stopping the replica under load")
    parser.add_argument("--no-pytest", action="store_true", help="check: skip timeline/tests/test_replicas.py")
    parser.add_argument("--rounds", type=int, default=20, help="check: staff writes whose replication lag is measured")
    args = parser.parse_args(argv)
    args.primary = args.primary.rstrip("/")
    try:
        if args.command == "start":
            start(args)
            return 0
        if args.command == "stop":
            stop(args)
            return 0
        if args.command == "status":
            return status(args)
        return check(args)
    except Refused as exc:
        print(f"bench.replica: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
