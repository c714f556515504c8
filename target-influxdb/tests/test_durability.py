"""STATE only after acknowledged writes; retries through 429/503; a failed write ends the run."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from queue import Empty, Queue

import pytest
from target_influxdb.writers import Connection, V1Destination, V1Writer

from tests.servers import InfluxDB1, influxdb1_binary

SCHEMA = {
    "type": "SCHEMA",
    "stream": "meter",
    "schema": {
        "properties": {
            "n": {"type": "integer"},
            "timestamp": {"type": "string", "format": "date-time"},
            "kwh": {"type": "number"},
        }
    },
    "key_properties": ["timestamp"],
}


def record(n: int) -> dict:
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1761436800 + 900 * n))
    return {
        "type": "RECORD",
        "stream": "meter",
        "record": {"n": n, "timestamp": moment, "kwh": n / 1000},
    }


def state(n: int) -> dict:
    return {"type": "STATE", "value": {"bookmarks": {"meter": {"up_to": n}}}}


# Runs the real CLI with the SDK's 5-minute "drain everything and emit STATE" period shortened to
# half a second, so that a test can see a STATE message in the middle of a run.
DRAIN_SOON = (
    "from target_influxdb.target import TargetInfluxDB\n"
    "TargetInfluxDB._MAX_RECORD_AGE_IN_MINUTES = 0.5 / 60\n"
    "TargetInfluxDB.cli()\n"
)


class TargetProcess:
    """The target as a child process fed through a pipe, its STATE lines collected as they come."""

    def __init__(self, config_file) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", DRAIN_SOON, "--config", str(config_file)],
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

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.stderr_lines) < count:
            assert time.monotonic() < deadline, f"no {text!r} in {self.stderr_lines}"
            time.sleep(0.02)

    def send(self, *messages: dict) -> None:
        """Write messages to the target; stop quietly if it has exited (after a failed write)."""
        assert self.process.stdin is not None
        try:
            for message in messages:
                self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass

    def next_state(self, timeout: float = 30) -> dict:
        return self.states.get(timeout=timeout)

    def finish(self) -> tuple[int, str]:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        self.process.wait(timeout=120)
        for reader in self.readers:
            reader.join(timeout=10)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        return self.process.returncode, "".join(self.stderr_lines)


def test_a_server_stopped_mid_run_ends_it_non_zero_with_no_state_past_stored_data(tmp_path):
    server = InfluxDB1(influxdb1_binary(), tmp_path)
    server.start()
    try:
        server.create_database("db")
        config = tmp_path / "target.json"
        config.write_text(
            json.dumps(
                {
                    "url": server.url,
                    "database": "db",
                    "batch_size_rows": 100,
                    "max_retries": 1,
                    "retry_interval": 0.05,
                    "timeout": 2,
                }
            )
        )
        target = TargetProcess(config)
        target.send(SCHEMA, *(record(n) for n in range(1, 301)), state(300))
        target.wait_for_log("is full. Current size is '100'", count=3)  # records 1-300 read
        time.sleep(0.6)
        target.send(record(301))  # the next record after half a second drains all: STATE 300
        assert target.next_state() == state(300)["value"]

        server.stop()
        target.send(*(record(n) for n in range(302, 601)), state(600))
        time.sleep(0.6)
        target.send(record(601))  # the first full batch after the stop failed: no STATE 600
        returncode, stderr = target.finish()
        with pytest.raises(Empty):
            target.states.get(timeout=0.1)
    finally:
        server.stop()

    assert returncode == 1
    assert "Traceback" not in stderr
    assert f"Cannot reach InfluxDB at {server.url}" in stderr
    assert [json.loads(line) for line in target.stdout_lines] == [state(300)["value"]]
    server.start()
    try:
        stored = sorted(point["n"] for point in server.points("db", "meter"))
    finally:
        server.stop()
    assert stored[:300] == list(range(1, 301))  # everything the last STATE covers is stored
    assert set(stored) <= set(range(1, 302))  # nothing after the server stopped


@pytest.mark.parametrize("flavour", ["v1", "v2"])
def test_429_and_503_are_retried_and_every_point_is_stored_once(
    load, flavour, v1_config, v2_config, influxdb1, empty_victoria_metrics, fault_proxy
):
    upstream = influxdb1.url if flavour == "v1" else empty_victoria_metrics.url
    proxy = fault_proxy(upstream)
    proxy.faults = [
        (429, {"Retry-After": "1"}, '{"error":"slow down"}'),
        (503, {}, "unavailable"),
        (503, {}, "unavailable"),
    ]
    config = {
        **(v1_config if flavour == "v1" else v2_config),
        "url": proxy.url,
        "batch_size_rows": 60,
        "max_retries": 3,
    }
    started = time.monotonic()
    loaded = load(config, [SCHEMA, *(record(n) for n in range(1, 101)), state(100)])

    assert time.monotonic() - started >= 1  # Retry-After was honoured
    statuses = [status for status, _ in proxy.writes]
    assert statuses == [429, 503, 503, 204, 204]  # 3 retries of the first batch of 60
    assert loaded.states == [state(100)["value"]]
    if flavour == "v1":
        stored = [p["n"] for p in influxdb1.points(v1_config["database"], "meter")]
        assert stored == list(range(1, 101))
    else:
        samples = empty_victoria_metrics.samples('{__name__="meter_n"}')
        assert sorted(samples[("meter_n",)].values()) == list(range(1, 101))
    assert "A write to InfluxDB failed (HTTP 429); retry 1 of 3." in loaded.log
    assert "A write to InfluxDB failed (HTTP 503); retry 3 of 3." in loaded.log


def test_a_write_that_keeps_failing_ends_the_run_without_state(
    load, v1_config, influxdb1, fault_proxy
):
    proxy = fault_proxy(influxdb1.url)
    proxy.faults = [(503, {}, '{"error":"overloaded"}')] * 3
    with pytest.raises(
        Exception,
        match=r"kept failing with HTTP 503 \(overloaded\) after 2 "
        r"retries",
    ) as error:
        load({**v1_config, "url": proxy.url}, [SCHEMA, record(1), state(1)])

    assert "Stream 'meter', a batch of 1 points" in str(error.value)
    assert [status for status, _ in proxy.writes] == [503, 503, 503]
    assert influxdb1.measurements(v1_config["database"]) == []


def test_the_retry_budget_starts_at_each_write_not_when_the_client_was_made(
    influx_database, influxdb1, fault_proxy
):
    """influxdb-client's WritesRetry fixes its deadline at creation; a long run would stop
    retrying after `max_retry_time`. Each write gets its own budget here."""
    proxy = fault_proxy(influxdb1.url)
    connection = Connection(proxy.url, timeout=0.1, max_retries=2, retry_interval=0.01)
    writer = V1Writer(connection, V1Destination(influx_database), "s")
    time.sleep(connection.max_retry_time + 0.2)
    proxy.faults = [(503, {}, "unavailable")]
    writer.write(b"m v=1 1761436800")
    writer.close()

    assert [status for status, _ in proxy.writes] == [503, 204]
    assert [p["v"] for p in influxdb1.points(influx_database, "m")] == [1]
