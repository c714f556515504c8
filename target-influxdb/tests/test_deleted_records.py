"""Records marked deleted (`_sdc_deleted_at`, the SDK's record metadata for a record that is
gone) delete the point a write of them would make: measurement + tags + time, whatever
`add_record_metadata` says. Within a batch the later record of a point wins; STATE follows only
acknowledged writes and deletes; VictoriaMetrics, which cannot delete a point, gets one WARNING
per stream with the count, and the run goes on."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.servers import LocalServer, reply

NUMBER = {"type": ["number", "null"]}
PROPERTIES = {
    "metering_point": {"type": "string"},
    "timestamp": {"type": "string", "format": "date-time"},
    "kwh": NUMBER,
    "wh": NUMBER,
    "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
}
KEYS = ["metering_point", "timestamp"]
SCHEMA = {"type": "SCHEMA", "stream": "consumption", "schema": {"properties": PROPERTIES}}
SCHEMA["key_properties"] = KEYS
T0, T1 = "2025-10-26T00:00:00+00:00", "2025-10-26T01:00:00+00:00"
E0, E1 = 1761436800, 1761440400


def value(point: str, when: str, kwh: float, **extra: Any) -> dict:
    record = {"metering_point": point, "timestamp": when, "kwh": kwh, **extra}
    return {"type": "RECORD", "stream": "consumption", "record": record}


def withdrawn(point: str, when: str) -> dict:
    """What the tap emits for a period WattiVahti withdrew: the key and `_sdc_deleted_at`."""
    record = {
        "metering_point": point,
        "timestamp": when,
        "kwh": None,
        "wh": None,
        "_sdc_deleted_at": "2025-10-28T06:00:00+00:00",
    }
    return {"type": "RECORD", "stream": "consumption", "record": record}


def state(n: int) -> dict:
    return {"type": "STATE", "value": {"bookmarks": {"consumption": {"n": n}}}}


def stored(influxdb1: Any, database: str) -> dict[tuple[str, int], dict]:
    return {
        (p["metering_point"], p["time"]): {k: v for k, v in p.items() if v is not None}
        for p in influxdb1.points(database, "consumption")
    }


FOUR = [value("a", T0, 1.0), value("a", T1, 2.0), value("b", T0, 3.0), value("b", T1, 4.0)]


@pytest.mark.parametrize(
    "settings",
    [{}, {"validate_records": True}, {"add_record_metadata": True}],
    ids=["direct", "sdk-path", "with-metadata"],
)
def test_a_record_marked_deleted_deletes_exactly_the_point_it_names(
    load, v1_config, influxdb1, settings
):
    config = {**v1_config, **settings}
    load(config, [SCHEMA, *FOUR, state(1)])
    loaded = load(config, [SCHEMA, withdrawn("a", T1), state(2)])

    assert set(stored(influxdb1, v1_config["database"])) == {("a", E0), ("b", E0), ("b", E1)}
    assert loaded.states == [state(2)["value"]]
    assert "Stream 'consumption': 1 records marked deleted (`_sdc_deleted_at`) deleted the " in (
        loaded.log
    )


def test_a_tag_the_record_has_no_value_for_matches_only_points_without_it(
    load, v1_config, influxdb1
):
    """Tags `metering_point` and `resolution`: a record without a resolution names the point
    without that tag, not the points of the same meter and time that have one."""
    config = {**v1_config, "tag_keys": {"consumption": ["metering_point", "resolution"]}}
    schema = json.loads(json.dumps(SCHEMA))
    schema["schema"]["properties"]["resolution"] = {"type": ["string", "null"]}
    load(config, [schema, value("a", T0, 1.0), value("a", T0, 2.0, resolution="PT1H")])
    gone = withdrawn("a", T0)
    gone["record"]["resolution"] = None
    load(config, [schema, gone])

    points = influxdb1.points(v1_config["database"], "consumption")
    assert [(p["resolution"], p["kwh"]) for p in points] == [("PT1H", 2.0)]


def test_a_replayed_delete_and_a_delete_of_an_absent_point_are_fine(load, v1_config, influxdb1):
    load(v1_config, [SCHEMA, *FOUR])
    messages = [SCHEMA, withdrawn("a", T0), withdrawn("c", T0), state(3)]
    first = load(v1_config, messages)
    again = load(v1_config, messages)  # the next run repeats the same records
    never = load({**v1_config, "measurements": {"consumption": "never_written"}}, messages)

    assert set(stored(influxdb1, v1_config["database"])) == {("a", E1), ("b", E0), ("b", E1)}
    assert first.states == again.states == never.states == [state(3)["value"]]


@pytest.mark.parametrize("batch_size", [100, 1], ids=["one-batch", "one-record-per-batch"])
def test_within_the_input_the_later_record_of_a_point_wins(load, v1_config, influxdb1, batch_size):
    """a: written (kwh, wh), then deleted, then written again with kwh only: only the new kwh
    stays (the delete took wh too). b: written, then deleted: gone."""
    load(v1_config, [SCHEMA, value("a", T0, 1.0, wh=1000.0), value("b", T0, 3.0, wh=3000.0)])
    messages = [
        SCHEMA,
        value("a", T0, 1.5, wh=1500.0),
        withdrawn("a", T0),
        value("a", T0, 2.0),
        value("b", T0, 4.0),
        withdrawn("b", T0),
        state(4),
    ]
    loaded = load({**v1_config, "batch_size_rows": batch_size}, messages)

    assert stored(influxdb1, v1_config["database"]) == {
        ("a", E0): {"metering_point": "a", "time": E0, "kwh": 2.0}
    }
    assert loaded.states == [state(4)["value"]]


def test_many_deletes_go_in_few_requests(load, v1_config, influxdb1, fault_proxy):
    proxy = fault_proxy(influxdb1.url)
    config = {**v1_config, "url": proxy.url, "batch_size_rows": 5000}
    times = [
        f"2025-10-{1 + n // 96:02d}T{n % 96 // 4:02d}:{n % 4 * 15:02d}:00Z" for n in range(250)
    ]
    load(config, [SCHEMA, *(value("a", when, 1.0) for when in times)])
    proxy.writes.clear()
    loaded = load(config, [SCHEMA, *(withdrawn("a", when) for when in times), state(5)])

    assert stored(influxdb1, v1_config["database"]) == {}
    assert [path.split("?")[0] for _, path in proxy.writes] == ["/query"] * 3  # 100 a POST
    assert loaded.states == [state(5)["value"]]


def test_no_state_passes_a_delete_the_server_did_not_acknowledge(
    run_cli, v1_config, influxdb1, fault_proxy
):
    proxy = fault_proxy(influxdb1.url)
    config = {**v1_config, "url": proxy.url, "batch_size_rows": 2}
    messages = [SCHEMA, *FOUR[:2], state(1), withdrawn("a", T0), withdrawn("b", T0), state(2)]
    proxy.faults = [(204, {}, "")] + [(503, {}, '{"error":"overloaded"}')] * 3
    result = run_cli(config, messages)

    assert result.returncode == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [state(1)["value"]]
    [error] = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert "Stream 'consumption', a batch of 0 points and 2 deleted points: InfluxDB at" in error
    assert [status for status, _ in proxy.writes] == [204, 503, 503, 503]


def test_a_user_without_write_permission_cannot_delete_and_is_told_why(run_cli, tmp_path):
    from tests.servers import InfluxDB1, influxdb1_binary

    server = InfluxDB1(influxdb1_binary(), tmp_path, auth=True)
    server.start()
    try:
        server.create_user("admin", "pw", admin=True)
        server.create_database("db")
        server.create_user("reader", "pw", grants={"db": "READ"})
        config = {"url": server.url, "database": "db", "username": "reader", "password": "pw"}
        result = run_cli(config, [SCHEMA, withdrawn("a", T0), state(1)])
    finally:
        server.stop()

    assert result.returncode == 1
    assert result.stdout == ""
    [error] = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert "refused to delete 1 points of database 'db' (HTTP 403" in error
    assert 'GRANT WRITE ON "db" TO <user>' in error


def test_victoria_metrics_cannot_delete_a_point_and_says_so_once_per_stream(
    load, v2_config, empty_victoria_metrics
):
    load(v2_config, [SCHEMA, *FOUR])
    loaded = load(
        v2_config, [SCHEMA, withdrawn("a", T0), withdrawn("b", T1), value("c", T0, 5.0), state(6)]
    )

    [warning] = [w for w in loaded.warnings() if "not deleted" in w]
    assert warning.startswith(
        "Stream 'consumption': 2 records marked deleted (`_sdc_deleted_at`) name points that "
        "were not deleted: VictoriaMetrics cannot delete a single point"
    )
    assert loaded.states == [state(6)["value"]]  # the run goes on
    samples = empty_victoria_metrics.samples('{__name__="consumption_kwh"}')
    assert {key[1]: len(values) for key, values in samples.items()} == {
        "metering_point=a": 2,  # the points stay
        "metering_point=b": 2,
        "metering_point=c": 1,
    }


class FakeInfluxDB2(LocalServer):
    """An InfluxDB 2.x stand-in that answers /ping as 2.7 and every write and delete with 204,
    keeping the delete requests' bodies: the v2 delete's request, not a server's deleting, is
    what this checks (no InfluxDB 2.x runs here)."""

    def __init__(self) -> None:
        self.deletes: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # /ping (a GET), /api/v2/write, /api/v2/delete
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/api/v2/delete"):
                    fake.deletes.append((self.path, json.loads(body)))
                reply(self, 204, headers={"X-Influxdb-Version": "v2.7.11"})

            do_GET = do_POST  # noqa: N815 - the name http.server calls

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        super().__init__(Handler)


def test_the_v2_delete_names_the_point_by_time_and_predicate(load):
    fake = FakeInfluxDB2()
    try:
        config = {"url": fake.url, "bucket": "electricity", "org": "wattivahti", "token": "t"}
        loaded = load({**config, "precision": "ms"}, [SCHEMA, withdrawn('a "b"', T1), state(7)])
    finally:
        fake.close()

    [(path, body)] = fake.deletes
    assert "org=wattivahti" in path
    assert "bucket=electricity" in path
    assert body == {
        "start": "2025-10-26T01:00:00.000000000Z",
        "stop": "2025-10-26T01:00:00.000000000Z",
        "predicate": '_measurement="consumption" AND metering_point="a \\"b\\""',
    }
    assert loaded.states == [state(7)["value"]]
