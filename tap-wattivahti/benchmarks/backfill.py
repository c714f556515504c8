"""Tap benchmark: backfills of one metering point, and the requests of an incremental run.

Run from the repository root: ``uv run python tap-wattivahti/benchmarks/backfill.py``.

Backfills: the meter switched to 15-minute values on 2023-01-01. The 1-year backfill is 2023
(15-minute values only); the 3-year backfill is 2021-2023 (two hourly years, then the 15-minute
year). Printed per backfill: consumption records, meterdata requests (and windows), token
requests, wall time, records per second, and the tap's peak RSS.

Incremental runs: after a first sync of a week, one hour more arrives; the next run is counted
without a due settlement re-read (the default, 23 of 24 hourly runs) and with one
(``correction_interval_hours`` 0), for a meter with 15-minute values and for an hourly-only one,
and for a re-read whose window spans the start of a month. Printed: meterdata requests and
consumption records of that run.

Spot prices, from each simulated source (Elering, ENTSO-E): the price requests (and records) of
a 3-year backfill (2023-2025: hourly prices, then quarter hours from the 2025-10-01 go-live), and
of an hourly run with consumption and spot_prices selected: after a first run of a week, the run
an hour later, as cron runs it (up to the end of tomorrow, by the real clock).

Costs and monthly bills (a spot contract and a general tariff, prices from the Elering
simulator): the 3-year backfill with consumption, daily_totals and spot_prices selected, and the
same with costs and monthly_bills as well, run alternately (two rounds, the faster of each
counted) so that both see the same machine load; printed: their wall times, what costs and
bills add (the target is at most 20 %), and the records and requests of each. Then the hourly
run after a first run of a week, with and without the two streams: its requests.

The tap runs as a separate process, exactly as Meltano runs it; its output is counted as it
streams and its peak resident memory is read from the kernel's accounting of that process
(``wait4``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.fixtures import catalog_selecting  # noqa: E402 - after the path setup
from tests.price_simulators import (  # noqa: E402
    EleringSimulator,
    EntsoeSimulator,
    PriceSimulator,
)
from tests.simulator import MeteringPoint, Simulator  # noqa: E402

CODE = "7654321"
SWITCH = date(2023, 1, 1)
BACKFILLS = {"1 year": ("2023-01-01", "2024-01-01"), "3 years": ("2021-01-01", "2024-01-01")}
#: name → (local first day, end of the first sync, end of the incremental run)
INCREMENTAL = {
    "mid-month": ("2025-06-05", "2025-06-12T10:00:00", "2025-06-12T11:00:00"),
    "month start": ("2025-05-25", "2025-06-03T10:00:00", "2025-06-03T11:00:00"),
}
METERS = {"15-minute": date(2023, 1, 1), "hourly-only": date(2030, 1, 1)}
PRICE_BACKFILL = ("2023-01-01", "2026-01-01")


@dataclass
class Run:
    """Figures of one tap run."""

    #: consumption records (daily_totals records are not counted)
    records: int
    #: spot_prices records, and requests to the price source (when one was given)
    price_records: int
    price_requests: int
    #: costs and monthly_bills records
    cost_records: int
    bill_records: int
    state: dict[str, Any]
    meterdata_requests: int
    token_requests: int
    seconds: float
    #: CPU seconds of the tap process (user + system): steadier than wall time under load
    cpu_seconds: float
    peak_rss_mib: float


@dataclass
class Result:
    """Figures of one backfill."""

    name: str
    run: Run
    windows: int

    @property
    def records_per_second(self) -> float:
        return self.run.records / self.run.seconds


def run_tap(
    sim: Simulator,
    folder: Path,
    settings: dict[str, Any],
    state: dict[str, Any] | None = None,
    prices: PriceSimulator | None = None,
    streams: tuple[str, ...] = (),
) -> Run:
    """Run the tap once against ``sim`` with ``settings`` (and ``state``); with ``prices`` as
    the price source and ``streams`` selected, when given."""
    sim.clear_log()
    if prices is not None:
        prices.clear_log()
    config = folder / "config.json"
    token_file = folder / f"refresh_token-{sim.port}.txt"
    seed = {} if token_file.exists() else {"refresh_token": sim.issue_refresh_token()}
    config.write_text(
        json.dumps({**sim.tap_config(refresh_token_file=str(token_file)), **seed, **settings}),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "tap_wattivahti", "--config", str(config)]
    if state is not None:
        state_path = folder / "state.json"
        state_path.write_text(json.dumps(state), encoding="utf-8")
        command += ["--state", str(state_path)]
    if streams:
        catalog = folder / "catalog.json"
        selected = catalog_selecting(json.loads(config.read_text(encoding="utf-8")), *streams)
        catalog.write_text(json.dumps(selected), encoding="utf-8")
        command += ["--catalog", str(catalog)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_WATTIVAHTI_")}
    log_path = folder / "tap.log"
    records, price_records, last_state = 0, 0, {}
    cost_records = bill_records = 0
    began = time.monotonic()
    with log_path.open("wb") as log:
        tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
        assert tap.stdout is not None
        for line in tap.stdout:
            if line.startswith(b'{"type":"RECORD","stream":"consumption"'):
                records += 1
            elif line.startswith(b'{"type":"RECORD","stream":"spot_prices"'):
                price_records += 1
            elif line.startswith(b'{"type":"RECORD","stream":"costs"'):
                cost_records += 1
            elif line.startswith(b'{"type":"RECORD","stream":"monthly_bills"'):
                bill_records += 1
            elif line.startswith(b'{"type":"STATE"'):
                last_state = json.loads(line)["value"]
        _, status, usage = os.wait4(tap.pid, 0)
    seconds = time.monotonic() - began
    returncode = os.waitstatus_to_exitcode(status)
    if returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        msg = f"the tap failed with exit status {returncode}:\n{tail}"
        raise SystemExit(msg)
    return Run(
        records=records,
        price_records=price_records,
        price_requests=len(prices.requests()) if prices is not None else 0,
        cost_records=cost_records,
        bill_records=bill_records,
        state=last_state,
        meterdata_requests=len(sim.requests("meterdata")),
        token_requests=len(sim.requests("token")),
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,  # kilobytes on Linux
    )


def backfill(name: str, start: str, stop: str, folder: Path) -> Result:
    """Run the tap once for ``[start, stop)`` against a fresh simulator."""
    with Simulator([MeteringPoint(CODE, switch_date=SWITCH)]) as sim:
        run = run_tap(sim, folder, {"start_date": start, "end_date": stop})
        windows = {
            (r.params["start"], r.params["stop"])
            for r in sim.request_log
            if r.kind == "meterdata"
            and r.params["start"][8:10] == "01"
            and r.params["stop"][8:10] == "01"
        }
        return Result(name, run, len(windows))


def incremental(meter: str, case: str, folder: Path) -> tuple[Run, Run]:
    """The run after a first sync, one hour later: without and with a due re-read."""
    first_day, first_end, second_end = INCREMENTAL[case]
    with Simulator([MeteringPoint(CODE, switch_date=METERS[meter])]) as sim:
        first = run_tap(sim, folder, {"start_date": first_day, "end_date": first_end})
        settings = {"start_date": first_day, "end_date": second_end}
        plain = run_tap(sim, folder, settings, first.state)
        due = run_tap(sim, folder, {**settings, "correction_interval_hours": 0}, first.state)
        return plain, due


def price_settings(prices: PriceSimulator) -> dict[str, Any]:
    """The tap's settings for the simulated price source."""
    if isinstance(prices, EntsoeSimulator):
        return {"price_source": "entsoe", "entsoe_url": prices.url, "entsoe_token": prices.token}
    return {"elering_url": prices.url}


def price_runs(prices: PriceSimulator, folder: Path) -> tuple[Run, Run]:
    """A 3-year backfill of spot_prices, and an hourly run after a first run of a week."""
    with prices, Simulator([MeteringPoint(CODE, switch_date=SWITCH)]) as sim:
        source = price_settings(prices)
        start, stop = PRICE_BACKFILL
        settings = {"start_date": start, "end_date": stop, **source}
        backfill = run_tap(sim, folder, settings, prices=prices, streams=("spot_prices",))
        both = ("consumption", "spot_prices")
        first = run_tap(sim, folder, source, prices=prices, streams=both)
        hourly = run_tap(sim, folder, source, first.state, prices=prices, streams=both)
        return backfill, hourly


#: The terms of the cost runs (in force over the whole 3-year backfill).
TERMS = {
    "energy_contracts": [
        {"from": "2021-01-01", "type": "spot", "margin_c_per_kwh": 0.49, "monthly_fee_eur": 3.9}
    ],
    "network_tariffs": [
        {"from": "2021-01-01", "type": "general", "c_per_kwh": 2.9, "monthly_fee_eur": 7.5}
    ],
}
WITHOUT_COSTS = ("consumption", "daily_totals", "spot_prices")
WITH_COSTS = (*WITHOUT_COSTS, "costs", "monthly_bills")


def cost_runs(folder: Path) -> dict[str, dict[str, Run]]:
    """The 3-year backfill without and with costs (alternately, the faster of two each), and
    the hourly run after a first run of a week, without and with them."""
    runs: dict[str, dict[str, Run]] = {"backfill": {}, "hourly": {}}
    with EleringSimulator() as prices, Simulator([MeteringPoint(CODE, switch_date=SWITCH)]) as sim:
        start, stop = BACKFILLS["3 years"]
        settings = {"start_date": start, "end_date": stop, **price_settings(prices), **TERMS}
        for _ in range(2):
            for name, streams in (("without", WITHOUT_COSTS), ("with", WITH_COSTS)):
                run = run_tap(sim, folder, settings, prices=prices, streams=streams)
                best = runs["backfill"].get(name)
                if best is None or run.seconds < best.seconds:
                    runs["backfill"][name] = run
        hourly = {**price_settings(prices), **TERMS}
        for name, streams in (("without", WITHOUT_COSTS), ("with", WITH_COSTS)):
            first = run_tap(sim, folder, hourly, prices=prices, streams=streams)
            runs["hourly"][name] = run_tap(
                sim, folder, hourly, first.state, prices=prices, streams=streams
            )
    return runs


def main() -> None:
    """Run the backfills, the incremental runs and the price runs and print three tables."""
    with tempfile.TemporaryDirectory(prefix="tap-wattivahti-bench-") as name:
        folder = Path(name)
        results = [backfill(name, *span, folder) for name, span in BACKFILLS.items()]
        runs = {
            (meter, case): incremental(meter, case, folder)
            for meter in METERS
            for case in INCREMENTAL
        }
        priced = {
            "elering": price_runs(EleringSimulator(), folder),
            "entsoe": price_runs(EntsoeSimulator(), folder),
        }
        costs = cost_runs(folder)
    print(
        f"{'backfill':<9} {'records':>8} {'meterdata req':>13} {'windows':>7} "
        f"{'token req':>9} {'seconds':>8} {'records/s':>9} {'peak RSS MiB':>12}"
    )
    for r in results:
        print(
            f"{r.name:<9} {r.run.records:>8} {r.run.meterdata_requests:>13} {r.windows:>7} "
            f"{r.run.token_requests:>9} {r.run.seconds:>8.1f} {r.records_per_second:>9.0f} "
            f"{r.run.peak_rss_mib:>12.1f}"
        )
    print()
    print("requests of the incremental run one hour after a first sync (records in brackets)")
    print(f"{'meter':<12} {'bookmark':<12} {'no re-read due':>15} {'re-read due':>12}")
    for (meter, case), (plain, due) in runs.items():
        print(
            f"{meter:<12} {case:<12} "
            f"{f'{plain.meterdata_requests} ({plain.records})':>15} "
            f"{f'{due.meterdata_requests} ({due.records})':>12}"
        )

    print()
    print("spot price requests (records in brackets)")
    print(f"{'source':<8} {'3-year backfill':>18} {'seconds':>8} {'hourly run':>11}")
    for name, (long, hourly) in priced.items():
        print(
            f"{name:<8} {f'{long.price_requests} ({long.price_records})':>18} "
            f"{long.seconds:>8.1f} {f'{hourly.price_requests} ({hourly.price_records})':>11}"
        )

    print()
    without, with_costs = costs["backfill"]["without"], costs["backfill"]["with"]
    added = with_costs.seconds / without.seconds - 1
    added_cpu = with_costs.cpu_seconds / without.cpu_seconds - 1
    print(
        "costs and monthly_bills on the 3-year backfill (side by side in this run, the faster "
        "of two rounds each; target: at most 20 % added)"
    )
    print(
        f"{'streams':<26} {'seconds':>8} {'CPU s':>6} {'consumption':>11} {'costs':>7} "
        f"{'bills':>5} "
        f"{'meterdata req':>13} {'price req':>9} {'peak RSS MiB':>12}"
    )
    for label, run in (("without costs", without), ("with costs, monthly_bills", with_costs)):
        print(
            f"{label:<26} {run.seconds:>8.1f} {run.cpu_seconds:>6.1f} {run.records:>11} "
            f"{run.cost_records:>7} "
            f"{run.bill_records:>5} {run.meterdata_requests:>13} {run.price_requests:>9} "
            f"{run.peak_rss_mib:>12.1f}"
        )
    print(
        f"costs and monthly_bills add {added:.0%} to the backfill's wall time, "
        f"{added_cpu:.0%} to the tap's CPU time"
    )
    print()
    print("the hourly run after a first run of a week (records in brackets)")
    print(f"{'streams':<26} {'meterdata req':>13} {'price req':>9} {'costs':>6} {'bills':>6}")
    for label, name in (("without costs", "without"), ("with costs, monthly_bills", "with")):
        run = costs["hourly"][name]
        print(
            f"{label:<26} {run.meterdata_requests:>13} {run.price_requests:>9} "
            f"{run.cost_records:>6} {run.bill_records:>6}"
        )


if __name__ == "__main__":
    main()
