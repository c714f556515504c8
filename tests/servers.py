"""Real InfluxDB 1.x, VictoriaMetrics and PostgreSQL servers for tests and the demo.

Each server runs as a child process on a free loopback port with its data in a temporary folder.
The InfluxDB and VictoriaMetrics binaries come from PATH when present (Debian's ``influxdb`` and
``victoria-metrics`` packages); otherwise the Debian packages are fetched without root
(``apt-get download`` and ``dpkg -x``) into ``.cache/servers`` at the repository root, which git
ignores. PostgreSQL comes from Debian's ``postgresql`` package, which ``scripts/test`` installs
(its binaries live in ``/usr/lib/postgresql/<major>/bin``, off PATH). Run
``python -m tests.servers`` to fetch them ahead of time and print the versions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("WATTIVAHTI_SERVER_CACHE", REPO_ROOT / ".cache" / "servers"))


class ServerUnavailableError(RuntimeError):
    """A server binary could not be found or fetched; the message says how to provide it."""


@dataclass(frozen=True)
class Binary:
    path: Path
    version: str
    source: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_binary(command: str, package: str) -> Binary:
    """The server binary ``command`` from PATH, the cache, or a fresh fetch of ``package``."""
    on_path = shutil.which(command)
    if on_path and _usable(Path(on_path), package):
        return Binary(Path(on_path), _installed_version(package), "PATH")
    extracted = debian_packages(package)
    version = (extracted / "VERSION").read_text(encoding="utf-8").strip()
    return Binary(extracted / "usr" / "bin" / command, version, f"Debian package in {extracted}")


def _usable(binary: Path, package: str) -> bool:
    """An ``influxd`` on PATH may be InfluxDB 2.x, whose configuration differs: only take 1.x."""
    if package != "influxdb":
        return True
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    return out.stdout.startswith("InfluxDB v1.")


def _installed_version(package: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def debian_packages(package: str, *extra: str) -> Path:
    """The folder holding ``package`` (and ``extra`` packages) unpacked, fetching on first use.

    ``apt-get download`` + ``dpkg -x``, without root. When the machine's package lists are empty
    (a fresh container), private lists are fetched into the cache first (``apt-get update`` with
    its state folders redirected, which needs no root). ``VERSION`` holds ``package``'s version.
    """
    target = CACHE_DIR / package
    if (target / "VERSION").exists():
        return target
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise ServerUnavailableError(_how_to_provide(package, "apt-get and dpkg are not available"))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with _fetching():
        if (target / "VERSION").exists():  # another test process fetched it meanwhile
            return target
        return _fetch(package, extra, target)


@contextlib.contextmanager
def _fetching() -> Generator[None]:
    """One fetch at a time across the test processes (pytest-xdist workers share the cache and
    the private package lists)."""
    with open(CACHE_DIR / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _fetch(package: str, extra: tuple[str, ...], target: Path) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"{package}-", dir=CACHE_DIR))
    try:
        names = [package, *extra]
        debs = _apt_download(names, work, private_lists=False)
        if debs is None:
            debs = _apt_download(names, work, private_lists=True)
        if debs is None:
            raise ServerUnavailableError(
                _how_to_provide(package, f"`apt-get download {' '.join(names)}` failed")
            )
        unpacked = work / "root"
        for deb in debs:
            subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True)
        version = debs[0].name.split("_")[1].replace("%3a", ":")
        (unpacked / "VERSION").write_text(version + "\n", encoding="utf-8")
        unpacked.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _apt_download(packages: list[str], work: Path, *, private_lists: bool) -> list[Path] | None:
    """The downloaded ``.deb`` files, ``packages[0]``'s first; ``None`` if any is missing."""
    options: list[str] = []
    if private_lists:
        lists = CACHE_DIR / "apt" / "lists"
        archives = CACHE_DIR / "apt" / "cache"
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        (archives / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        options = [
            "-o",
            f"Dir::State::Lists={lists}",
            "-o",
            f"Dir::Cache={archives}",
            "-o",
            "Debug::NoLocking=1",
        ]
        subprocess.run(
            ["apt-get", "-qq", *options, "update"], check=False, capture_output=True, text=True
        )
    result = subprocess.run(
        ["apt-get", "-qq", *options, "download", *packages],
        cwd=work,
        check=False,
        capture_output=True,
        text=True,
    )
    debs = [next(iter(work.glob(f"{name}_*.deb")), None) for name in packages]
    if result.returncode != 0 or None in debs:
        return None
    return [deb for deb in debs if deb is not None]


# Debian's docker-compose (1.x, Python) validates a compose file against the Compose schema with
# no Docker engine. Its generic dependencies (yaml, jsonschema, requests, dotenv) come from this
# virtual environment; the rest from Debian.
_COMPOSE_PACKAGES = (
    "python3-docker",
    "python3-dockerpty",
    "python3-docopt",
    "python3-texttable",
    "python3-websocket",
    "python3-cached-property",
    "python3-distro",
    "python3-six",
)


def docker_compose_command() -> tuple[list[str], dict[str, str]]:
    """The argv prefix and extra environment that run ``docker-compose`` (1.x or 2.x)."""
    on_path = shutil.which("docker-compose")
    if on_path:
        return [on_path], {}
    extracted = debian_packages("docker-compose", *_COMPOSE_PACKAGES)
    site = extracted / "usr" / "lib" / "python3" / "dist-packages"
    code = "import sys; from compose.cli.main import main; sys.argv[0] = 'docker-compose'; main()"
    return [sys.executable, "-W", "ignore", "-c", code], {"PYTHONPATH": str(site)}


def _how_to_provide(package: str, reason: str) -> str:
    return (
        f"Cannot provide the {package} server for the tests: {reason}. Install Debian's "
        f"`{package}` package (`sudo apt-get install {package}`) so that its binary is on PATH, "
        f"or put the unpacked package (usr/bin/... and a VERSION file) in {CACHE_DIR / package}."
    )


class _ServerProcess:
    """A child server process with a data folder and a port that survive stop/start."""

    name = "server"

    def __init__(self, binary: Binary, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.session = requests.Session()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        return self.binary.version

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        self._wait_until_ready(timeout)

    def _wait_until_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerUnavailableError(
                    f"{self.name} exited with {self.process.returncode} at start: {self.log_tail()}"
                )
            try:
                if self.ready():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise ServerUnavailableError(
            f"{self.name} did not answer within {timeout} s: {self.log_tail()}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def remove(self) -> None:
        """Stop the server for good (its data folder is the caller's)."""
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "server.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class InfluxDB1(_ServerProcess):
    """InfluxDB 1.x (``influxd``) with HTTP on a free port, no telemetry, and no auth unless
    ``auth`` (then the first user to create is an admin: see :meth:`create_user`)."""

    name = "InfluxDB 1.x"

    def __init__(self, binary: Binary, workdir: Path, *, auth: bool = False) -> None:
        super().__init__(binary, workdir)
        self.rpc_port = free_port()
        config = f"""
reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{workdir / "meta"}"
  logging-enabled = false
[data]
  dir = "{workdir / "data"}"
  wal-dir = "{workdir / "wal"}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  auth-enabled = {"true" if auth else "false"}
[logging]
  level = "warn"
"""
        (workdir / "influxdb.conf").write_text(config, encoding="utf-8")

    def command(self) -> list[str]:
        return [str(self.binary.path), "-config", str(self.workdir / "influxdb.conf")]

    def ready(self) -> bool:
        return self.session.get(f"{self.url}/ping", timeout=1).status_code == 204

    def query(self, q: str, database: str | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL; return the first statement's series (raises on an error)."""
        params = {"q": q, "epoch": "s"}
        if database:
            params["db"] = database
        response = self.session.post(f"{self.url}/query", data=params, timeout=30)
        response.raise_for_status()
        result = response.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxQL error for {q!r}: {result['error']}")
        return result.get("series", [])

    def create_user(
        self, name: str, password: str, *, admin: bool = False, grants: dict[str, str] | None = None
    ) -> None:
        """A user, with ALL PRIVILEGES (``admin``; the server's session then logs in as it) or
        the ``grants`` given (database → READ, WRITE or ALL)."""
        self.query(
            f"CREATE USER \"{name}\" WITH PASSWORD '{password}'"
            + (" WITH ALL PRIVILEGES" if admin else "")
        )
        if admin:
            self.session.auth = (name, password)
        for database, privilege in (grants or {}).items():
            self.query(f'GRANT {privilege} ON "{database}" TO "{name}"')

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        self.query(f'DROP DATABASE "{name}"')

    def points(self, database: str, measurement: str) -> list[dict[str, Any]]:
        """Every point of a measurement as a dict (``time`` in epoch seconds, tags and fields)."""
        rows: list[dict[str, Any]] = []
        escaped = measurement.replace("\\", "\\\\").replace('"', '\\"')
        for series in self.query(f'SELECT * FROM "{escaped}"', database):
            columns = series["columns"]
            for values in series["values"]:
                rows.append(dict(zip(columns, values, strict=True)))
        return rows

    def field_types(self, database: str, measurement: str) -> dict[str, str]:
        escaped = measurement.replace('"', '\\"')
        series = self.query(f'SHOW FIELD KEYS FROM "{escaped}"', database)
        return {name: kind for s in series for name, kind in s["values"]}

    def measurements(self, database: str) -> list[str]:
        return [v[0] for s in self.query("SHOW MEASUREMENTS", database) for v in s["values"]]


class VictoriaMetrics(_ServerProcess):
    """VictoriaMetrics with every write path on one free port, keeping data for 100 years."""

    name = "VictoriaMetrics"

    def command(self) -> list[str]:
        return [
            str(self.binary.path),
            f"-storageDataPath={self.workdir / 'data'}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=ERROR",
        ]

    def ready(self) -> bool:
        return self.session.get(f"{self.url}/health", timeout=1).status_code == 200

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, Any]]:
        """Every stored series matching ``match`` (after a flush), as the export API gives them."""
        self.session.get(f"{self.url}/internal/force_flush", timeout=30).raise_for_status()
        response = self.session.post(
            f"{self.url}/api/v1/export", data={"match[]": match}, timeout=30
        )
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def samples(self, match: str = '{__name__=~".+"}') -> dict[tuple[str, ...], dict[int, float]]:
        """Series key (name and sorted labels) → {epoch seconds: value}."""
        out: dict[tuple[str, ...], dict[int, float]] = {}
        for series in self.export(match):
            metric = series["metric"]
            labels = (f"{k}={v}" for k, v in sorted(metric.items()) if k != "__name__")
            key = (metric["__name__"], *labels)
            seconds = (t // 1000 for t in series["timestamps"])
            values = dict(zip(seconds, series["values"], strict=True))
            out.setdefault(key, {}).update(values)
        return out

    def delete_all(self) -> None:
        self.session.post(
            f"{self.url}/api/v1/admin/tsdb/delete_series",
            data={"match[]": '{__name__=~".+"}'},
            timeout=30,
        ).raise_for_status()


class PostgreSQL(_ServerProcess):
    """PostgreSQL on a free loopback port (TCP only), its cluster made by ``initdb`` in a
    temporary folder; user ``postgres`` with password ``postgres``, database ``postgres``.

    PostgreSQL refuses to run as root: then ``initdb`` and the server run as an unprivileged
    user (Debian's ``postgres`` user, else ``nobody``), with the cluster in a folder of its own
    under the system's temporary folder (a pytest folder is private to root).
    """

    name = "PostgreSQL"
    password = "postgres"

    def __init__(self, binary: Binary, workdir: Path) -> None:
        super().__init__(binary, workdir)
        self.user = _unprivileged_user() if os.geteuid() == 0 else None
        self.cluster = Path(tempfile.mkdtemp(prefix="wattivahti-postgres-"))
        if self.user is not None:
            os.chown(self.cluster, self.user.pw_uid, self.user.pw_gid)
        self._initdb()

    def _run(self, command: list[str], output: IO[bytes] | int) -> subprocess.Popen[bytes]:
        """Start ``command`` in the cluster's folder, as :attr:`user` when set; its output
        (and errors) go to ``output``."""
        user = self.user
        return subprocess.Popen(
            command,
            cwd=self.cluster,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def _initdb(self) -> None:
        password_file = self.cluster / "password"
        password_file.write_text(self.password + "\n", encoding="utf-8")
        if self.user is not None:
            os.chown(password_file, self.user.pw_uid, self.user.pw_gid)
        initdb = self._run(
            [
                str(self.binary.path.with_name("initdb")),
                "--pgdata",
                str(self.cluster / "data"),
                "--username",
                "postgres",
                "--pwfile",
                str(password_file),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            subprocess.PIPE,
        )
        output, _ = initdb.communicate(timeout=120)
        password_file.unlink()
        if initdb.returncode != 0:
            raise ServerUnavailableError(f"initdb failed: {output.decode(errors='replace')}")

    @property
    def url(self) -> str:
        """A ``postgresql://`` URI of the server's ``postgres`` database."""
        return self.uri("postgres")

    def uri(self, database: str, scheme: str = "postgresql") -> str:
        """A URI of ``database`` on this server as user ``postgres`` (``scheme`` for SQLAlchemy:
        ``postgresql+psycopg``)."""
        return f"{scheme}://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def command(self) -> list[str]:
        return [
            str(self.binary.path),
            "-D",
            str(self.cluster / "data"),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=300",
        ]

    def start(self, timeout: float = 30.0) -> None:
        log = (self.workdir / "server.log").open("ab")
        self.process = self._run(self.command(), log)
        log.close()
        self._wait_until_ready(timeout)

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def remove(self) -> None:
        """Stop the server and delete its cluster."""
        self.stop()
        shutil.rmtree(self.cluster, ignore_errors=True)

    def create_database(self, name: str) -> None:
        self.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement in autocommit; its rows (none for a command)."""
        import psycopg

        with psycopg.connect(self.uri(database), autocommit=True) as connection:
            cursor = connection.execute(sql)  # ty: ignore[no-matching-overload]
            return cursor.fetchall() if cursor.description else []


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServerUnavailableError("no unprivileged user (postgres, nobody) to run PostgreSQL as")


def postgresql_binary() -> Binary:
    """The ``postgres`` server of Debian's ``postgresql`` package (newest major version)."""
    on_path = shutil.which("postgres")
    candidates = [Path(on_path)] if on_path else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    for binary in candidates:
        real = Path(os.path.realpath(binary))
        if real.with_name("initdb").exists():
            version = subprocess.run(
                [str(real), "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()
            return Binary(real, version.removeprefix("postgres (PostgreSQL) "), str(real.parent))
    raise ServerUnavailableError(
        "Cannot provide the PostgreSQL server for the tests: no `postgres` and `initdb` on PATH "
        "or in /usr/lib/postgresql/*/bin. Install Debian's `postgresql` package (`sudo apt-get "
        "install postgresql`; ./scripts/test does it when run as root or with sudo)."
    )


class LocalServer:
    """``handler`` served from a thread on a free loopback port: the tests' small stand-ins
    (a fault proxy in front of a real server, a web server that is not InfluxDB)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    """Answer the request ``handler`` serves: ``status``, ``headers``, ``body``."""
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def influxdb1_binary() -> Binary:
    return find_binary("influxd", "influxdb")


def victoria_metrics_binary() -> Binary:
    return find_binary("victoria-metrics", "victoria-metrics")


def main() -> None:
    """Fetch both servers if needed and print where they come from."""
    for binary in (influxdb1_binary(), victoria_metrics_binary(), postgresql_binary()):
        print(f"{binary.path}  version {binary.version}  ({binary.source})")


if __name__ == "__main__":
    main()
