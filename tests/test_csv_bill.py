"""The README's CSV bill table: `meltano run --full-refresh tap-wattivahti target-csv` with
MeltanoLabs' target-csv from the package index, run as written with the terms of the README's
"Check your bill"; each file's first lines are the README's excerpt, its rows are the
simulator's quarter hours to the watt-hour, and the month's bill is what the test computes from
the same terms, meter values and prices."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.bills import Terms, expected_bill, expected_costs, terms_environment, total
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
    """The lines of each ```csv block of the section: consumption.csv, daily_totals.csv, then
    monthly_bills.csv."""
    blocks = re.findall(r"```csv\n(.*?)```", readme_section(), flags=re.DOTALL)
    return [block.splitlines() for block in blocks]


def test_readme_csv_recipe_writes_the_quarter_hours_of_the_month(meltano, simulator, elering):
    env = readme_recipe()
    start = datetime.fromisoformat(env["TAP_WATTIVAHTI_START_DATE"])
    stop = datetime.fromisoformat(env["TAP_WATTIVAHTI_END_DATE"])
    simulator.available_until = stop
    output = meltano.project / "output"
    for stale in output.glob("*.csv"):
        stale.unlink()
    run_env = {**env, **terms_environment()}
    result = meltano("run", "--full-refresh", "tap-wattivahti", "target-csv", env=run_env)
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
    assert len(excerpts) == 3, "README: show the first lines of daily_totals.csv and the bill"
    assert excerpts[1] == totals.read_text(encoding="utf-8").splitlines()[: len(excerpts[1])]

    # The month's bill, and the costs of its quarter hours, from the README's example terms.
    terms, prices = Terms.from_readme(), elering.truth("FI", start, stop)
    bills = (output / "monthly_bills.csv").read_text(encoding="utf-8")
    assert excerpts[2] == bills.splitlines()
    [bill] = list(csv.DictReader(bills.splitlines()))
    expected = expected_bill(truth, prices, date(2025, 10, 1), terms)
    assert datetime.fromisoformat(bill.pop("month_start")) == expected.pop("month_start")
    assert (bill.pop("metering_point"), bill.pop("kind")) == (SEED_METERING_POINT, "consumption")
    assert bill.pop("complete") == "True"
    assert expected.pop("complete") is True
    written = {k: v if k == "month" else float(v) for k, v in bill.items()}
    computed = {k: v if isinstance(v, str) else float(v) for k, v in expected.items()}
    assert written == pytest.approx(computed, abs=1e-9)
    costs = list(csv.DictReader((output / "costs.csv").read_text(encoding="utf-8").splitlines()))
    assert len(costs) == len(truth) == 2980
    summed = total(c for c in expected_costs(truth, prices, terms).values() if c is not None)
    assert sum(float(r["total_eur"]) for r in costs) == pytest.approx(float(summed.total))
    fees = (terms.energy_fee + terms.transfer_fee) * Decimal("1.255")  # with their VAT
    assert Decimal(bill["total_eur"]) == pytest.approx(summed.total + fees)
