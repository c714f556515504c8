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

from tests.simulator import MeteringPoint, Simulator  # noqa: E402 - after the path setup

CODE = "7654321"
SWITCH = date(2023, 1, 1)
BACKFILLS = {"1 year": ("2023-01-01", "2024-01-01"), "3 years": ("2021-01-01", "2024-01-01")}
#: name → (local first day, end of the first sync, end of the incremental run)
INCREMENTAL = {
    "mid-month": ("2025-06-05", "2025-06-12T10:00:00", "2025-06-12T11:00:00"),
    "month start": ("2025-05-25", "2025-06-03T10:00:00", "2025-06-03T11:00:00"),
}
METERS = {"15-minute": date(2023, 1, 1), "hourly-only": date(2030, 1, 1)}


@dataclass
class Run:
    """Figures of one tap run."""

    #: consumption records (daily_totals records are not counted)
    records: int
    state: dict[str, Any]
    meterdata_requests: int
    token_requests: int
    seconds: float
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
    sim: Simulator, folder: Path, settings: dict[str, Any], state: dict[str, Any] | None = None
) -> Run:
    """Run the tap once against ``sim`` with ``settings`` (and ``state``)."""
    sim.clear_log()
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_WATTIVAHTI_")}
    log_path = folder / "tap.log"
    records, last_state = 0, {}
    began = time.monotonic()
    with log_path.open("wb") as log:
        tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
        assert tap.stdout is not None
        for line in tap.stdout:
            if line.startswith(b'{"type":"RECORD","stream":"consumption"'):
                records += 1
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
        state=last_state,
        meterdata_requests=len(sim.requests("meterdata")),
        token_requests=len(sim.requests("token")),
        seconds=seconds,
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


def main() -> None:
    """Run the backfills and the incremental runs and print two tables."""
    with tempfile.TemporaryDirectory(prefix="tap-wattivahti-bench-") as name:
        folder = Path(name)
        results = [backfill(name, *span, folder) for name, span in BACKFILLS.items()]
        runs = {
            (meter, case): incremental(meter, case, folder)
            for meter in METERS
            for case in INCREMENTAL
        }
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


if __name__ == "__main__":
    main()
