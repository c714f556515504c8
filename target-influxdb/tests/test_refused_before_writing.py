"""What the target can know before writing is checked before writing: names InfluxDB reserves,
times outside its range (at the run's precision), series keys over its 65,535 bytes. Each is one
paragraph naming the stream, the property or record and what to change; nothing of the batch is
written and no STATE passes it. Refusals the target cannot foresee (retention, the server's
limits) name the setting to change. Echoed values are cut to 200 characters.

The checks run on both write paths (InfluxDB 1.x; VictoriaMetrics through /api/v2/write)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.servers import InfluxDB1, influxdb1_binary

WHEN = {"type": "string", "format": "date-time"}
STATE = {"type": "STATE", "value": {"bookmarks": {"s": {"up_to": 1}}}}


def messages(properties: dict, keys: list[str], *rows: dict) -> list[dict]:
    schema = {
        "type": "SCHEMA",
        "stream": "s",
        "schema": {"properties": properties},
        "key_properties": keys,
    }
    return [schema, *({"type": "RECORD", "stream": "s", "record": row} for row in rows), STATE]


def the_error(result: Any) -> str:
    """The run failed with one paragraph and no traceback, and emitted no STATE."""
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    return error


@pytest.mark.parametrize(
    ("extra", "keys", "name", "what"),
    [
        ({"time": {"type": "string"}}, ["when"], "time", "field key"),
        ({"time": {"type": "string"}}, ["time", "when"], "time", "tag key"),
        ({"_field": {"type": "string"}}, ["_field", "when"], "_field", "tag key"),
        ({"_measurement": {"type": "number"}}, ["when"], "_measurement", "field key"),
    ],
    ids=["field-time", "tag-time", "tag-_field", "field-_measurement"],
)
def test_a_name_influxdb_reserves_is_refused_before_the_first_write(
    run_cli, write_path, extra, keys, name, what
):
    row = {"when": "2025-10-26T00:00:00Z", "v": 1.5, name: "x" if name != "_measurement" else 2}
    result = run_cli(write_path.config, messages({"when": WHEN, "v": {}, **extra}, keys, row))

    error = the_error(result)
    assert (
        f"Stream 's': property '{name}' would be the {what} '{name}', which InfluxDB reserves"
        in (error)
    )
    assert f'"{name}_": "{name}", "{name}": null' in error  # the stream map that renames it
    assert ("`tag_keys`" in error) == (what == "tag key")
    assert not write_path.stored("s")


def test_an_undeclared_property_with_a_reserved_name_is_refused_at_its_line(run_cli, write_path):
    rows = ({"when": "2025-10-26T00:00:00Z", "v": 1}, {"when": "2025-10-26T01:00:00Z", "time": 1})
    result = run_cli(write_path.config, messages({"when": WHEN, "v": {}}, ["when"], *rows))

    assert "Input line 3: Stream 's': property 'time' would be the field key 'time'" in (
        the_error(result)
    )
    assert not write_path.stored("s")


def test_a_time_influxdb_cannot_store_is_refused_naming_the_record(run_cli, write_path):
    rows = (
        {"id": "a", "when": "2025-10-26T00:00:00Z", "v": 1},
        {"id": "b", "when": "2300-01-01T00:00:00Z", "v": 2},
    )
    result = run_cli(
        write_path.config, messages({"id": {}, "when": WHEN, "v": {}}, ["id", "when"], *rows)
    )

    error = the_error(result)
    assert (
        "Input line 3: Stream 's': the record with id='b', when='2300-01-01T00:00:00Z' has the "
        "time '2300-01-01T00:00:00Z' in its time property 'when'"
    ) in error
    assert "outside the times InfluxDB can store (1677-09-21T00:12:43.145224194Z to " in error
    assert "2262-04-11T23:47:16.854775806Z; `precision` is s)" in error
    assert "set `timestamp_key`" in error
    assert not write_path.stored("s")


def test_the_time_range_is_checked_at_the_runs_precision(run_cli, load, v1_config, influxdb1):
    """16.9 s after InfluxDB's last second: stored in whole seconds (cut to 16 s), refused in
    nanoseconds."""
    row = {"when": "2262-04-11T23:47:16.9Z", "v": 1}
    stream = messages({"when": WHEN, "v": {}}, ["when"], row)

    refused = run_cli({**v1_config, "precision": "ns"}, stream)
    assert "`precision` is ns" in the_error(refused)
    assert influxdb1.points(v1_config["database"], "s") == []

    stored = load({**v1_config, "precision": "s"}, stream)
    assert stored.states == [STATE["value"]]
    assert [p["time"] for p in influxdb1.points(v1_config["database"], "s")] == [9223372036]


def test_a_series_key_over_influxdbs_limit_is_refused_in_a_short_paragraph(run_cli, write_path):
    long = "x" * 70_000
    rows = ({"site": long, "when": "2025-10-26T00:00:00Z", "v": 1},)
    result = run_cli(
        write_path.config, messages({"site": {}, "when": WHEN, "v": {}}, ["site", "when"], *rows)
    )

    error = the_error(result)
    assert len(error) < 1500  # not the 70 KB of the tag
    assert "the series key (measurement and tags) 's,site=xxx" in error
    assert "is 70,007 bytes, and with a field key it would be longer than the 65,535 bytes" in error
    assert "Its longest tag is 'site' (70,000 bytes)" in error
    assert "Leave the property out of `tag_keys` for this stream" in error
    assert not write_path.stored("s")


def test_a_value_that_does_not_fit_is_shown_cut_to_200_characters(run_cli, v1_config):
    rows = ({"when": "2025-10-26T00:00:00Z", "n": "7" * 70_000},)
    result = run_cli(v1_config, messages({"when": WHEN, "n": {"type": "integer"}}, ["when"], *rows))

    error = the_error(result)
    assert f"property 'n' has the value '{'7' * 199}… (str)" in error
    assert len(error) < 1000


def test_points_older_than_the_retention_policy_name_the_policy_to_change(
    run_cli, v1_config, influxdb1
):
    database = v1_config["database"]
    influxdb1.query(f'CREATE RETENTION POLICY "week" ON "{database}" DURATION 7d REPLICATION 1')
    result = run_cli({**v1_config, "retention_policy": "week"}, "consumption.singer")

    error = the_error(result)
    assert "points beyond retention policy" in error
    assert "will refuse them on every run: their times are older than what the retention" in error
    assert f'ALTER RETENTION POLICY "week" ON "{database}" DURATION' in error
    assert "`retention_policy`" in error
    assert "`start_date`" in error


@pytest.fixture(scope="module")
def limited_influxdb1(tmp_path_factory):
    """An InfluxDB 1.x that keeps at most two values per tag (`max-values-per-tag = 2`)."""
    server = InfluxDB1(influxdb1_binary(), tmp_path_factory.mktemp("limited"))
    conf = server.workdir / "influxdb.conf"
    conf.write_text(conf.read_text().replace("[data]\n", "[data]\n  max-values-per-tag = 2\n"))
    server.start()
    server.create_database("limited")
    yield server
    server.stop()


def test_a_server_limit_that_refuses_points_names_the_limit_and_the_tag(run_cli, limited_influxdb1):
    sites = ("a", "b", "c")
    rows = [{"site": site, "when": "2025-10-26T00:00:00Z", "v": 1} for site in sites]
    config = {"url": limited_influxdb1.url, "database": "limited", "batch_size_rows": 1}
    result = run_cli(config, messages({"site": {}, "when": WHEN, "v": {}}, ["site", "when"], *rows))

    error = the_error(result)
    assert "max-values-per-tag limit exceeded" in error
    assert "tag 'site' has as many values as the server's `max-values-per-tag` allows" in error
    assert "leave it out of `tag_keys` for the stream" in error


def test_a_schema_that_changes_the_tags_after_records_were_taken_is_refused(run_cli, write_path):
    """Key properties [id, when] make `id` a tag; a new SCHEMA without `id` would write the
    same records as a field `id` in another series."""
    properties = {"id": {"type": "string"}, "when": WHEN, "v": {"type": "number"}}
    first = messages(
        properties, ["id", "when"], {"id": "a", "when": "2025-10-26T00:00:00Z", "v": 1}
    )
    second = messages(properties, ["when"], {"id": "a", "when": "2025-10-26T01:00:00Z", "v": 2})
    result = run_cli(write_path.config, [*first, *second])

    error = the_error(result)
    assert "Input line 4: Stream 's': a new SCHEMA message changes its points after records" in (
        error
    )
    assert "(tags ['id'] → [], time from 'when' → 'when'; key properties ['id', 'when'] → " in (
        error
    )
    assert "fix its tags with `tag_keys`" in error
    assert not write_path.stored("s")


def test_with_tag_keys_set_a_change_of_key_properties_keeps_one_series(run_cli, write_path):
    properties = {"id": {"type": "string"}, "when": WHEN, "v": {"type": "number"}}
    first = messages(
        properties, ["id", "when"], {"id": "a", "when": "2025-10-26T00:00:00Z", "v": 1}
    )
    second = messages(properties, ["when"], {"id": "a", "when": "2025-10-26T01:00:00Z", "v": 2})
    result = run_cli({**write_path.config, "tag_keys": {"s": ["id"]}}, [*first, *second])

    assert result.returncode == 0, result.stderr
    stored = write_path.stored("s")
    if write_path.name == "v1":
        assert [(p["id"], p["v"]) for p in stored] == [("a", 1.0), ("a", 2.0)]
    else:
        assert list(stored) == [("s_v", "id=a")]
