"""The README's CSV bill table: `meltano run --full-refresh tap-wattivahti target-csv` with
MeltanoLabs' target-csv from the package index, run as written; the file's first lines are the
README's excerpt, and its rows are the simulator's quarter hours to the watt-hour."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta

import pytest

from tests.readme import README
from tests.simulator import HELSINKI, SEED_METERING_POINT, local_midnight_utc

SECTION = "## A bill table in CSV"


def readme_section() -> str:
    return README.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]


def readme_recipe() -> dict[str, str]:
    """The environment of the README's `meltano run … target-csv` command."""
    recipe = re.search(
        r"TAP_WATTIVAHTI_START_DATE=(\S+) TAP_WATTIVAHTI_END_DATE=(\S+) \\\n"
        r"\s+uv run meltano run --full-refresh tap-wattivahti target-csv\n",
        readme_section(),
    )
    assert recipe, "the README's CSV recipe changed"
    return {"TAP_WATTIVAHTI_START_DATE": recipe[1], "TAP_WATTIVAHTI_END_DATE": recipe[2]}


def readme_excerpts() -> list[list[str]]:
    """The lines of each ```csv block of the section: consumption.csv, then daily_totals.csv."""
    blocks = re.findall(r"```csv\n(.*?)```", readme_section(), flags=re.DOTALL)
    return [block.splitlines() for block in blocks]


def test_readme_csv_recipe_writes_the_quarter_hours_of_the_month(meltano, simulator):
    env = readme_recipe()
    start = datetime.fromisoformat(env["TAP_WATTIVAHTI_START_DATE"])
    stop = datetime.fromisoformat(env["TAP_WATTIVAHTI_END_DATE"])
    simulator.available_until = stop
    output = meltano.project / "output"
    for stale in output.glob("*.csv"):
        stale.unlink()
    result = meltano("run", "--full-refresh", "tap-wattivahti", "target-csv", env=env)
    assert result.returncode == 0, result.output[-5000:]

    text = (output / "consumption.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == [
        "metering_point",
        "timestamp",
        "resolution",
        "consumption_kwh",
        "consumption_wh",
    ]
    truth = simulator.truth(SEED_METERING_POINT, start, stop)
    written = {datetime.fromisoformat(r["timestamp"]): float(r["consumption_wh"]) for r in rows}
    assert len(rows) == len(truth) == 31 * 96 + 4
    assert written == {instant: float(wh) for instant, wh in truth.items()}
    kwh = {datetime.fromisoformat(r["timestamp"]): float(r["consumption_kwh"]) for r in rows}
    assert all(kwh[instant] * 1000 == pytest.approx(wh) for instant, wh in written.items())
    fall_day = [kwh[i] for i in kwh if i.astimezone(HELSINKI).date() == date(2025, 10, 26)]
    assert len(fall_day) == 100
    assert sum(fall_day) == pytest.approx(24.510, abs=0.0005)

    excerpts = readme_excerpts()
    assert excerpts[0] == text.splitlines()[: len(excerpts[0])]
    assert len(excerpts[0]) >= 4

    totals = output / "daily_totals.csv"
    daily = list(csv.DictReader(totals.read_text(encoding="utf-8").splitlines()))
    consumption = {r["date"]: r for r in daily if r["kind"] == "consumption"}
    assert len(consumption) == 31
    assert float(consumption["2025-10-26"]["kwh"]) == pytest.approx(24.510, abs=0.0005)
    assert consumption["2025-10-26"]["expected_periods"] == "100"
    for local_day, row in consumption.items():
        first = date.fromisoformat(local_day)
        truth_kwh = simulator.truth_kwh(
            SEED_METERING_POINT,
            local_midnight_utc(first),
            local_midnight_utc(first + timedelta(days=1)),
        )
        assert float(row["kwh"]) == pytest.approx(truth_kwh, abs=0.0005), local_day
    assert len(excerpts) == 2, "README: show the first lines of output/daily_totals.csv too"
    assert excerpts[1] == totals.read_text(encoding="utf-8").splitlines()[: len(excerpts[1])]
