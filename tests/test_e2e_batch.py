"""End to end with BATCH messages: the tap's `batch_config` makes it write gzip JSONL batch files
and send BATCH messages instead of RECORDs; `meltano run` stores every value and moves the
bookmark only as far as the stored data."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

from tests.simulator import local_midnight_utc
from tests.test_e2e import assert_ok, bookmark, expected, stored, window

UTC = timezone.utc


def test_batch_messages_from_the_tap_are_stored_like_records(
    meltano, simulator, influxdb1, influx_database, tmp_path
):
    batches = tmp_path / "batches"
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": batches.as_uri(), "prefix": "wattivahti-"},
        "batch_size": 100,
    }
    env = {
        **window(date(2025, 10, 25), date(2025, 10, 27)),  # the fall DST day included
        "TAP_WATTIVAHTI_BATCH_CONFIG": json.dumps(batch_config),
    }
    simulator.available_until = datetime(2025, 10, 27, 12, 0, tzinfo=UTC)
    result = meltano.run_pipeline(env=env)
    assert_ok(result)

    start, stop = local_midnight_utc(date(2025, 10, 25)), local_midnight_utc(date(2025, 10, 27))
    points = stored(influxdb1, influx_database)
    assert points == expected(simulator, start, stop)
    assert len(points) == 96 + 100
    assert bookmark(meltano) == stop - timedelta(minutes=15)  # the last period stored
    manifests = [int(n) for n in re.findall(r"(\d+) batch manifests", result.output)]
    assert sum(manifests) >= 2  # the records came as BATCH messages, in several files
    assert len(list(batches.glob("wattivahti-*.json.gz"))) == sum(manifests)
