"""STATE only after acknowledged writes, one per stored batch; retries through 429/503; a failed
write ends the run; SIGTERM/SIGINT stop it without a STATE ahead of the data."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from queue import Empty

import pytest
import singer_sdk.testing
from target_influxdb.settings import Connection, V1Destination
from target_influxdb.writers import V1Writer

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


def covered(states: list[dict], stored: list[int]) -> None:
    """Every STATE emitted covers only stored records: ``up_to`` n means 1..n are stored."""
    for value in states:
        up_to = value["bookmarks"]["meter"]["up_to"]
        assert set(range(1, up_to + 1)) <= set(stored), f"STATE {up_to} is ahead of the data"


def test_a_server_stopped_mid_run_ends_it_non_zero_with_no_state_past_stored_data(
    tmp_path, target_process
):
    server = InfluxDB1(influxdb1_binary(), tmp_path)
    server.start()
    try:
        server.create_database("db")
        target = target_process(
            {
                "url": server.url,
                "database": "db",
                "batch_size_rows": 100,
                "max_retries": 1,
                "retry_interval": 0.05,
                "timeout": 2,
            }
        )
        target.send(SCHEMA, *(record(n) for n in range(1, 301)), state(300))
        assert target.next_state() == state(300)["value"]  # after the third batch, mid-run

        server.stop()
        target.send(*(record(n) for n in range(301, 601)), state(600))
        returncode, stderr = target.finish()
        with pytest.raises(Empty):
            target.states.get(timeout=0.1)
    finally:
        server.stop()

    assert returncode == 1
    assert "Traceback" not in stderr
    assert f"Cannot reach InfluxDB at {server.url}" in stderr
    assert target.emitted == [state(300)["value"]]
    server.start()
    try:
        stored = sorted(point["n"] for point in server.points("db", "meter"))
    finally:
        server.stop()
    assert stored == list(range(1, 301))  # what the STATE covers; nothing after the stop


def test_a_state_is_emitted_as_soon_as_the_batches_before_it_are_acknowledged(
    target_process, v1_config, influxdb1
):
    target = target_process({**v1_config, "batch_size_rows": 100})
    target.send(SCHEMA, *(record(n) for n in range(1, 101)), state(100))
    assert target.next_state() == state(100)["value"]  # one full batch: written, STATE at once

    target.send(*(record(n) for n in range(101, 151)), state(150))
    with pytest.raises(Empty):  # records 101-150 wait in an open batch: no STATE for them
        target.states.get(timeout=1)
    target.send(*(record(n) for n in range(151, 201)))  # the batch fills and is written
    assert target.next_state() == state(150)["value"]

    target.send(*(record(n) for n in range(201, 231)), state(230))
    returncode, stderr = target.finish()  # the end of input writes the rest, then the STATE
    assert returncode == 0, stderr
    stored = [p["n"] for p in influxdb1.points(v1_config["database"], "meter")]
    assert stored == list(range(1, 231))
    assert target.emitted == [state(100)["value"], state(150)["value"], state(230)["value"]]


def test_interleaved_streams_get_a_state_only_when_both_streams_stored_their_records(
    load, v1_config, influxdb1
):
    """A STATE covers the records of every stream read before it: here the SDK's own sample of
    two interleaved streams, with batches of two records."""
    sample = Path(singer_sdk.testing.__file__).parent / "target_test_streams"
    loaded = load(
        {**v1_config, "batch_size_rows": 2},
        sample / "multiple_state_messages.singer",
    )

    database = v1_config["database"]
    for stream, count in (("a", 6), ("b", 6)):
        points = influxdb1.points(database, f"test_multiple_state_messages_{stream}")
        assert sorted(int(p["id"]) for p in points) == list(range(1, count + 1))  # id: a tag
    assert loaded.states[-1] == {
        "test_multiple_state_messages_a": 5,
        "test_multiple_state_messages_b": 6,
    }
    values = [
        (s["test_multiple_state_messages_a"], s["test_multiple_state_messages_b"])
        for s in loaded.states
    ]
    assert values == sorted(values)  # emitted in input order, none twice


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
    loaded = load(config, [SCHEMA, *(record(n) for n in range(1, 101)), state(100)])

    # Retry-After was honoured: the retry came a second after the 429 at the earliest (the
    # backoff alone would wait retry_interval, 0.05 to 0.1 s).
    assert proxy.arrivals[1] - proxy.arrivals[0] >= 1
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
    connection = Connection(
        proxy.url, timeout=0.1, verify_ssl=True, max_retries=2, retry_interval=0.01
    )
    writer = V1Writer(connection, V1Destination(influx_database), "s")
    time.sleep(connection.max_retry_time + 0.2)
    proxy.faults = [(503, {}, "unavailable")]
    writer.write(b"m v=1 1761436800")
    writer.close()

    assert [status for status, _ in proxy.writes] == [503, 204]
    assert [p["v"] for p in influxdb1.points(influx_database, "m")] == [1]


def stored(influxdb1: InfluxDB1, database: str) -> list[int]:
    return sorted(point["n"] for point in influxdb1.points(database, "meter"))


# SIGTERM and SIGINT: the target stops reading, lets the write in flight finish or fail within
# its timeout, starts no other, emits only STATEs whose records InfluxDB holds, and exits
# non-zero (128 + the signal) unless all of its input was read and stored. A delaying proxy in
# front of the real InfluxDB 1.x makes a write last long enough to signal the target mid-write.


def slow_target(target_process, fault_proxy, influxdb1, v1_config, delay: float):
    proxy = fault_proxy(influxdb1.url)
    proxy.delay = delay
    config = {**v1_config, "url": proxy.url, "batch_size_rows": 50}
    return proxy, target_process(config)


def test_sigterm_mid_write_lets_it_finish_emits_only_covered_state_and_exits_143(
    target_process, fault_proxy, influxdb1, v1_config
):
    proxy, target = slow_target(target_process, fault_proxy, influxdb1, v1_config, delay=1.0)
    target.send(SCHEMA, *(record(n) for n in range(1, 51)), state(50))
    target.send(*(record(n) for n in range(51, 121)), state(120))
    assert proxy.write_arrived.wait(30)  # records 1-50 are on their way to InfluxDB
    target.process.send_signal(signal.SIGTERM)
    returncode, stderr = target.finish()

    numbers = stored(influxdb1, v1_config["database"])
    assert returncode == 128 + signal.SIGTERM
    assert numbers == list(range(1, 51))  # the write in flight finished; no other started
    assert target.emitted == [state(50)["value"]]
    covered(target.emitted, numbers)
    assert "Stopped by SIGTERM before all input was read and stored" in stderr
    assert "Traceback" not in stderr


def test_sigint_while_waiting_for_input_exits_130_without_writing_the_open_batch(
    target_process, v1_config, influxdb1
):
    target = target_process({**v1_config, "batch_size_rows": 50})
    target.send(SCHEMA, *(record(n) for n in range(1, 51)), state(50))
    assert target.next_state() == state(50)["value"]
    target.send(*(record(n) for n in range(51, 61)), state(60))
    time.sleep(0.3)  # the target reads these lines, then waits for more
    target.process.send_signal(signal.SIGINT)
    returncode, stderr = target.finish()

    assert returncode == 128 + signal.SIGINT
    assert stored(influxdb1, v1_config["database"]) == list(range(1, 51))
    assert target.emitted == [state(50)["value"]]
    assert "Stopped by SIGINT" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("flavour", ["v1", "v2"])
def test_sigterm_during_a_retry_wait_ends_the_run_at_once_without_state(
    target_process, fault_proxy, flavour, v1_config, v2_config, influxdb1, empty_victoria_metrics
):
    upstream = influxdb1.url if flavour == "v1" else empty_victoria_metrics.url
    proxy = fault_proxy(upstream)
    proxy.faults = [(503, {}, '{"error":"overloaded"}')] * 3
    config = v1_config if flavour == "v1" else v2_config
    target = target_process({**config, "url": proxy.url, "retry_interval": 60, "max_retries": 2})
    target.send(SCHEMA, *(record(n) for n in range(1, 11)), state(10), close=True)
    target.wait_for_log("A write to InfluxDB failed (HTTP 503); retry 1 of 2")
    started = time.monotonic()
    target.process.send_signal(signal.SIGTERM)
    returncode, stderr = target.finish()

    assert time.monotonic() - started < 30  # well before the 60-120 s wait for the retry
    assert returncode == 128 + signal.SIGTERM
    assert target.emitted == []
    if flavour == "v1":
        assert stored(influxdb1, v1_config["database"]) == []
    else:
        assert empty_victoria_metrics.samples('{__name__="meter_n"}') == {}
    assert "The write was stopped by a signal before InfluxDB acknowledged it" in stderr
    assert [status for status, _ in proxy.writes] == [503]  # no retry after the signal


def test_sigterm_after_all_input_was_read_lets_the_last_write_finish_and_exits_0(
    target_process, fault_proxy, influxdb1, v1_config
):
    proxy, target = slow_target(target_process, fault_proxy, influxdb1, v1_config, delay=0.6)
    target.send(SCHEMA, *(record(n) for n in range(1, 31)), state(30), close=True)
    assert proxy.write_arrived.wait(30)  # the only write: records 1-30, after the end of input
    target.process.send_signal(signal.SIGTERM)
    returncode, stderr = target.finish()

    assert returncode == 0, stderr
    assert stored(influxdb1, v1_config["database"]) == list(range(1, 31))
    assert target.emitted == [state(30)["value"]]
