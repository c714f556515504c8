"""Backfill benchmark: 1-year and 3-year backfills of one metering point against the simulator.

Run from the repository root: ``uv run python tap-wattivahti/benchmarks/backfill.py``.

The meter switched to 15-minute values on 2023-01-01. The 1-year backfill is 2023 (15-minute
values only); the 3-year backfill is 2021-2023 (two hourly years, then the 15-minute year). The tap
runs as a separate process, exactly as Meltano runs it; its output is counted as it streams and
its peak resident memory is read from the kernel's accounting of that process (``wait4``).
Printed per backfill: records, meterdata requests (and windows), token requests, wall time,
records per second, and the tap's peak RSS.
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

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.simulator import MeteringPoint, Simulator  # noqa: E402 - after the path setup

CODE = "7654321"
SWITCH = date(2023, 1, 1)
BACKFILLS = {"1 year": ("2023-01-01", "2024-01-01"), "3 years": ("2021-01-01", "2024-01-01")}


@dataclass
class Result:
    """Figures of one backfill."""

    name: str
    records: int
    meterdata_requests: int
    windows: int
    token_requests: int
    seconds: float
    peak_rss_mib: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds


def backfill(name: str, start: str, stop: str, folder: Path) -> Result:
    """Run the tap once for ``[start, stop)`` against a fresh simulator."""
    with Simulator([MeteringPoint(CODE, switch_date=SWITCH)]) as sim:
        config = folder / f"config-{name.replace(' ', '-')}.json"
        config.write_text(
            json.dumps(
                sim.tap_config(
                    refresh_token_file=str(folder / f"refresh_token-{sim.port}.txt"),
                    start_date=start,
                    end_date=stop,
                )
            ),
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_WATTIVAHTI_")}
        log_path = folder / "tap.log"
        began = time.monotonic()
        with log_path.open("wb") as log:
            tap = subprocess.Popen(
                [sys.executable, "-m", "tap_wattivahti", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
            )
            assert tap.stdout is not None
            records = sum(1 for line in tap.stdout if line.startswith(b'{"type":"RECORD"'))
            _, status, usage = os.wait4(tap.pid, 0)
        seconds = time.monotonic() - began
        tap.returncode = os.waitstatus_to_exitcode(status)
        if tap.returncode != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            msg = f"the tap failed with exit status {tap.returncode}:\n{tail}"
            raise SystemExit(msg)
        windows = {
            (r.params["start"], r.params["stop"])
            for r in sim.requests("meterdata")
            if r.params["start"][8:10] == "01" and r.params["stop"][8:10] == "01"
        }
        return Result(
            name=name,
            records=records,
            meterdata_requests=len(sim.requests("meterdata")),
            windows=len(windows),
            token_requests=len(sim.requests("token")),
            seconds=seconds,
            peak_rss_mib=usage.ru_maxrss / 1024,  # kilobytes on Linux
        )


def main() -> None:
    """Run both backfills and print a table."""
    with tempfile.TemporaryDirectory(prefix="tap-wattivahti-bench-") as folder:
        results = [backfill(name, *span, Path(folder)) for name, span in BACKFILLS.items()]
    header = (
        f"{'backfill':<9} {'records':>8} {'meterdata req':>13} {'windows':>7} "
        f"{'token req':>9} {'seconds':>8} {'records/s':>9} {'peak RSS MiB':>12}"
    )
    print(header)
    for r in results:
        print(
            f"{r.name:<9} {r.records:>8} {r.meterdata_requests:>13} {r.windows:>7} "
            f"{r.token_requests:>9} {r.seconds:>8.1f} {r.records_per_second:>9.0f} "
            f"{r.peak_rss_mib:>12.1f}"
        )


if __name__ == "__main__":
    main()
