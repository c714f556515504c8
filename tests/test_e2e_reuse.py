"""Reuse: the tap feeds another Singer target, and the target loads another Singer source."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

from tests.simulator import SEED_METERING_POINT, local_midnight_utc

UTC = timezone.utc
DATA = Path(__file__).parent / "data"


def test_tap_into_target_jsonl_lands_every_record(meltano, simulator, tmp_path):
    start, stop = local_midnight_utc(date(2025, 10, 25)), local_midnight_utc(date(2025, 10, 28))
    simulator.available_until = stop
    result = meltano(
        "run",
        "tap-wattivahti",
        "target-jsonl",
        env={
            "TAP_WATTIVAHTI_START_DATE": start.isoformat(),
            "TAP_WATTIVAHTI_END_DATE": stop.isoformat(),
            "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "out"),
        },
    )
    assert result.returncode == 0, result.output[-5000:]
    lines = (tmp_path / "out" / "consumption.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3 * 96 + 4
    instants = {datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) for r in records}
    assert instants == set(simulator.truth(SEED_METERING_POINT, start, stop))
    total = sum(r["consumption_kwh"] for r in records)
    assert abs(total - simulator.truth_kwh(SEED_METERING_POINT, start, stop)) < 0.001
    assert {r["metering_point"] for r in records} == {SEED_METERING_POINT}


def test_a_recorded_stream_of_another_tap_loads_into_influxdb(meltano, influxdb1, influx_database):
    singer = (DATA / "hourly_weather.singer").read_text()
    result = meltano("invoke", "target-influxdb", input_text=singer)
    assert result.returncode == 0, result.output[-5000:]
    states = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert states[-1]["bookmarks"]["hourly_weather"]["replication_key_value"] == (
        "2025-06-10T03:00:00Z"
    )
    points = influxdb1.points(influx_database, "hourly_weather")
    assert len(points) == 7
    by_key = {(p["location"], p["time"]): p for p in points}
    pori = by_key[("Pori", int(datetime(2025, 6, 10, 2, tzinfo=UTC).timestamp()))]
    assert pori["temperature_2m"] == 11.2
    assert pori["relative_humidity_2m"] == 85
    assert pori["is_day"] is True
    assert pori["conditions"] == 'light rain, "steady"'
    helsinki = by_key[("Helsinki", int(datetime(2025, 6, 10, 2, tzinfo=UTC).timestamp()))]
    assert helsinki["relative_humidity_2m"] is None
    # Numbers are floats by the schema, even when a record holds 12 or 0.
    assert influxdb1.field_types(influx_database, "hourly_weather") == {
        "conditions": "string",
        "is_day": "boolean",
        "relative_humidity_2m": "integer",
        "temperature_2m": "float",
        "weather_code": "integer",
    }
