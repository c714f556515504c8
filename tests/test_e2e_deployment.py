"""The README's deployment recipes under the real `meltano run`: a backfill started beside the
hourly job."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from tests.meltano_project import STATE_ID, MeltanoRunner, Result
from tests.readme import backfill_command
from tests.simulator import local_midnight_utc
from tests.test_e2e import assert_ok, bookmark, expected, stored, window

UTC = timezone.utc


def run_side_by_side(
    meltano: MeltanoRunner, tmp_path: Path, delay: float, *runs: tuple[list[str], dict[str, str]]
) -> list[Result]:
    """Start each `meltano` command ``delay`` seconds after the one before; wait for all."""
    started = time.monotonic()
    processes = []
    for number, (args, env) in enumerate(runs):
        if number:
            time.sleep(delay)
        log = (tmp_path / f"run-{number}.log").open("w+")
        processes.append((args, log, meltano.popen(*args, env=env, output=log)))
    results = []
    for args, log, process in processes:
        returncode = process.wait(timeout=600)
        log.seek(0)
        results.append(Result(args, returncode, log.read(), "", time.monotonic() - started))
        log.close()
    return results


@pytest.mark.parametrize("delay", [0, 1, 2])
def test_readme_backfill_beside_the_hourly_job_is_safe_at_any_start_time(
    meltano, simulator, influxdb1, influx_database, tmp_path, delay
):
    """Two runs of one plugin share its run folder (catalog, state file) and break each other
    when they start together; the README's backfill runs the plugins under other names."""
    hourly = (
        ["run", "tap-wattivahti", "target-influxdb"],
        window(date(2025, 6, 10), date(2025, 6, 11)),
    )
    simulator.available_until = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)  # 12:00 local
    assert_ok(meltano(*hourly[0], env=hourly[1]))
    simulator.available_until = datetime(2025, 6, 10, 15, 0, tzinfo=UTC)  # six hours later
    _, command = backfill_command("backfill-2024")  # a year: this test loads one week
    backfill = (command, window(date(2025, 5, 1), date(2025, 5, 8)))

    for result in run_side_by_side(meltano, tmp_path, delay, hourly, backfill):
        assert_ok(result)

    may = expected(
        simulator, local_midnight_utc(date(2025, 5, 1)), local_midnight_utc(date(2025, 5, 8))
    )
    june = expected(simulator, local_midnight_utc(date(2025, 6, 10)), simulator.available_until)
    assert stored(influxdb1, influx_database) == may | june
    assert bookmark(meltano) == datetime(2025, 6, 10, 14, 45, tzinfo=UTC)
    backfill_state_id = "prod:tap-wattivahti-backfill-to-target-influxdb-backfill:backfill-2024"
    assert bookmark(meltano, backfill_state_id) == datetime(2025, 5, 7, 20, 45, tzinfo=UTC)
    # Neither pipeline saw the other's state.
    assert "2025-05" not in json.dumps(meltano.state(STATE_ID))
    assert "2025-06" not in json.dumps(meltano.state(backfill_state_id))
