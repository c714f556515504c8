"""Helpers for the target's tests: run the target in-process or as a command, on real servers."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from queue import Queue
from typing import Any

import pytest
import requests
from target_influxdb.target import TargetInfluxDB

from tests.servers import LocalServer, reply

DATA = Path(__file__).parent / "data"

# Fast retries, so that tests of failures do not wait for the production backoff.
FAST_RETRIES = {"max_retries": 2, "retry_interval": 0.05, "timeout": 5}


def singer_text(source: str | Path | Iterable[dict[str, Any]]) -> str:
    """Singer input from a ``.singer`` file (name in tests/data or a path), text, or messages."""
    if isinstance(source, Path):
        return source.read_text(encoding="utf-8")
    if isinstance(source, str):
        path = DATA / source
        return path.read_text(encoding="utf-8") if source.endswith(".singer") else source
    return "".join(json.dumps(message) + "\n" for message in source)


@dataclass
class Loaded:
    """What an in-process run printed: its STATE messages and its log."""

    states: list[dict[str, Any]]
    records: list[logging.LogRecord]

    @property
    def log(self) -> str:
        return "\n".join(record.getMessage() for record in self.records)

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]


@pytest.fixture
def load(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Callable[..., Loaded]:
    """Run the target in this process on some Singer input; return its STATE messages and log."""

    def run(config: dict[str, Any], source: str | Path | Iterable[dict[str, Any]]) -> Loaded:
        caplog.clear()
        caplog.set_level(logging.INFO)
        capsys.readouterr()
        target = TargetInfluxDB(config=config)
        target.listen(io.StringIO(singer_text(source)))
        out = capsys.readouterr().out
        states = [json.loads(line) for line in out.splitlines() if line.strip()]
        return Loaded(states, list(caplog.records))

    return run


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m target_influxdb --config <file>`` as Meltano does, input on stdin."""

    def run(
        config: dict[str, Any],
        source: str | Path | Iterable[dict[str, Any]],
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-m", "target_influxdb", "--config", str(config_file)],
            input=singer_text(source),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def v1_config(influxdb1: Any, influx_database: str) -> dict[str, Any]:
    """Settings for a fresh database on the session's InfluxDB 1.x."""
    return {"url": influxdb1.url, "database": influx_database, **FAST_RETRIES}


@pytest.fixture
def v2_config(empty_victoria_metrics: Any) -> dict[str, Any]:
    """Settings for the session's (emptied) VictoriaMetrics through /api/v2/write."""
    return {
        "url": empty_victoria_metrics.url,
        "bucket": "electricity",
        "org": "wattivahti",
        "token": "vm-ignores-this-token",
        **FAST_RETRIES,
    }


@dataclass
class WritePath:
    """One of the two write paths, for tests that run on both: its settings, and what its
    server stores of a measurement (InfluxDB 1.x: points; VictoriaMetrics: samples)."""

    name: str
    config: dict[str, Any]
    stored: Callable[[str], Any]


@pytest.fixture(params=["v1", "v2"])
def write_path(
    request: pytest.FixtureRequest,
    v1_config: dict[str, Any],
    v2_config: dict[str, Any],
    influxdb1: Any,
    empty_victoria_metrics: Any,
) -> WritePath:
    """InfluxDB 1.x through /write, then VictoriaMetrics through /api/v2/write."""
    if request.param == "v1":
        return WritePath(
            "v1", v1_config, lambda name: influxdb1.points(v1_config["database"], name)
        )
    return WritePath(
        "v2",
        v2_config,
        lambda name: empty_victoria_metrics.samples(f'{{__name__=~"{name}_.*"}}'),
    )


class FaultProxy(LocalServer):
    """An HTTP proxy in front of a real server that answers planned faults first.

    ``faults`` is a list of ``(status, headers, body)`` answered, in order, to the next write
    requests (POST); every other request, and writes once the faults are used up, are forwarded.
    ``ping_headers`` are added to the answers of ``/ping``. ``delay`` seconds pass before a
    write is forwarded (a slow server); ``write_arrived`` is set when a write request arrives.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[tuple[int, dict[str, str], str]] = []
        self.ping_headers: dict[str, str] = {}
        self.writes: list[tuple[int, str]] = []  # (status answered, path) of every POST
        self.arrivals: list[float] = []  # time.monotonic() of every POST's arrival
        self.delay = 0.0
        self.write_arrived = threading.Event()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                self._forward(b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.arrivals.append(time.monotonic())
                proxy.write_arrived.set()
                with proxy.lock:
                    fault = proxy.faults.pop(0) if proxy.faults else None
                if fault is None:
                    time.sleep(proxy.delay)
                    self._forward(body)
                    return
                status, headers, text = fault
                proxy.writes.append((status, self.path))
                self._answer(status, headers, text.encode())

            def _forward(self, body: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                response = requests.request(
                    self.command,
                    proxy.upstream + self.path,
                    data=body,
                    headers=headers,
                    timeout=30,
                )
                if self.command == "POST":
                    proxy.writes.append((response.status_code, self.path))
                extra = proxy.ping_headers if self.path.startswith("/ping") else {}
                self._answer(
                    response.status_code,
                    extra,
                    response.content,
                    response.headers.get("Content-Type"),
                )

            def _answer(
                self,
                status: int,
                headers: dict[str, str],
                body: bytes,
                content_type: str | None = None,
            ) -> None:
                kind = {"Content-Type": content_type} if content_type else {}
                reply(self, status, body, {**headers, **kind})

        super().__init__(Handler)


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """Start fault proxies in front of real servers: ``fault_proxy(server.url)``."""
    proxies: list[FaultProxy] = []

    def start(upstream: str) -> FaultProxy:
        proxies.append(FaultProxy(upstream))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()


class TargetProcess:
    """``python -m target_influxdb`` fed through a pipe, its STATE lines collected as they come."""

    def __init__(self, config: dict[str, Any], config_file: Path) -> None:
        config_file.write_text(json.dumps(config), encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "target_influxdb", "--config", str(config_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.states: Queue[dict] = Queue()
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self.readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout_lines.append(line)
            self.states.put(json.loads(line))

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    @property
    def emitted(self) -> list[dict]:
        """Every STATE value written so far."""
        return [json.loads(line) for line in self.stdout_lines]

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.stderr_lines) < count:
            assert time.monotonic() < deadline, f"no {text!r} in {self.stderr_lines}"
            time.sleep(0.02)

    def send(self, *messages: dict, close: bool = False) -> None:
        """Write messages to the target; stop quietly if it has exited (after a failed write)."""
        assert self.process.stdin is not None
        try:
            for message in messages:
                self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
            if close:
                self.process.stdin.close()
        except BrokenPipeError:
            pass

    def next_state(self, timeout: float = 30) -> dict:
        return self.states.get(timeout=timeout)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        """Close the input (if still open), wait for the exit; return code and stderr."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.process.stdin.close()
        self.process.wait(timeout=timeout)
        for reader in self.readers:
            reader.join(timeout=10)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        return self.process.returncode, "".join(self.stderr_lines)


@pytest.fixture
def target_process(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], TargetProcess]]:
    """Start the target as a child process with these settings: ``target_process(config)``."""
    started: list[TargetProcess] = []

    def start(config: dict[str, Any]) -> TargetProcess:
        started.append(TargetProcess(config, tmp_path / f"target-{len(started)}.json"))
        return started[-1]

    yield start
    for target in started:
        if target.process.poll() is None:
            target.process.kill()
            target.process.wait()
