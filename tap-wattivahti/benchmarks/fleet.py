"""Fleet benchmark: the hourly `meltano run` of 500 accounts of one metering point each.

Run from the repository root: ``uv run python tap-wattivahti/benchmarks/fleet.py``.

The WattiVahti simulator answers every request (grants and meter data alike) after 100 ms, with
strict rotation; each account has its own token file (the accounts come from an accounts file);
the target is target-influxdb on a real InfluxDB 1.x. A first run syncs the accounts (not
measured); its state is copied to one state ID per measured run (`meltano state copy`), so every
measured run starts from the same bookmarks: the hourly run one hour later, with 1, 2 and 4
requests in flight (``max_parallel_requests``), and once with the daily settlement re-read due.

Printed per run: wall time of the whole `meltano run`, meter data requests, token grants, peak
memory of the whole `meltano run` (Meltano, the tap and the target together, sampled every 50
ms) as the sum of their resident set sizes (RSS; pages they share, such as Python's own, count
once per process) and as the sum of their proportional set sizes (PSS: shared pages divided
among the processes sharing them), and the state's size per metering point.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

# After the path setup:
from tests.meltano_project import STATE_ID, MeltanoRunner, install, make_project  # noqa: E402
from tests.servers import InfluxDB1, influxdb1_binary  # noqa: E402
from tests.simulator import Simulator  # noqa: E402

UTC = timezone.utc
ACCOUNTS = 500
DELAY_SECONDS = 0.1
START = "2025-06-10T00:00:00+03:00"
FIRST_END = datetime(2025, 6, 10, 7, tzinfo=UTC)  # 10:00 local
HOURLY_END = datetime(2025, 6, 10, 8, tzinfo=UTC)  # an hour later
PREPARED = f"{STATE_ID}:prepared"


@dataclass
class Figures:
    """One measured `meltano run`."""

    name: str
    seconds: float
    meterdata_requests: int
    grants: int
    peak_rss_mib: float
    peak_pss_mib: float
    state_bytes_per_point: float


def run(
    meltano: MeltanoRunner, sim: Simulator, suffix: str, env: dict[str, str], log: Path
) -> tuple[float, float, float]:
    """`meltano run` with ``suffix``; its wall time and the peak RSS and PSS sums (MiB) of its
    process tree."""
    sim.clear_log()
    began = time.monotonic()
    with log.open("w") as output:
        process = meltano.popen(
            "run", "--state-id-suffix", suffix, "tap-wattivahti", "target-influxdb",
            env=env, output=output,
        )  # fmt: skip
        root = psutil.Process(process.pid)
        rss = pss = 0
        while process.poll() is None:
            try:
                memory = [p.memory_full_info() for p in (root, *root.children(recursive=True))]
                rss = max(rss, sum(m.rss for m in memory))
                pss = max(pss, sum(m.pss for m in memory))
            except psutil.Error:
                pass
            time.sleep(0.05)
    seconds = time.monotonic() - began
    if process.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"meltano run failed ({process.returncode}):\n{tail}")
    return seconds, rss / 2**20, pss / 2**20


def measure(
    name: str, meltano: MeltanoRunner, sim: Simulator, env: dict[str, str], folder: Path
) -> Figures:
    """Copy the prepared state to a state ID of its own, run the hourly run there."""
    suffix = name.replace(" ", "-").replace(",", "")
    copied = meltano("state", "copy", "--force", PREPARED, f"{STATE_ID}:{suffix}")
    if copied.returncode != 0:
        raise SystemExit(copied.output)
    seconds, rss, pss = run(meltano, sim, suffix, env, folder / f"{suffix}.log")
    state = meltano.state(f"{STATE_ID}:{suffix}") or {}
    consumption = state["singer_state"]["bookmarks"]["consumption"]["partitions"]
    size = len(json.dumps(state["singer_state"], separators=(",", ":"))) / len(consumption)
    return Figures(
        name,
        seconds,
        len(sim.requests("meterdata")),
        len(sim.requests("token")),
        rss,
        pss,
        size,
    )


def main() -> None:
    """Prepare the fleet, run the measured hourly runs, print one table."""
    with tempfile.TemporaryDirectory(prefix="tap-wattivahti-fleet-") as name:
        folder = Path(name)
        project = make_project(folder / "project")
        installed = install(project)
        if installed.returncode != 0:
            raise SystemExit(installed.stderr)
        influx = InfluxDB1(influxdb1_binary(), folder)
        influx.start()
        sim = Simulator([], response_delay=DELAY_SECONDS)
        sim.start()
        try:
            accounts = [
                {
                    "name": f"household-{n:03d}",
                    "metering_points": [f"{4000000 + n}"],
                    "refresh_token": sim.add_account(f"household-{n:03d}", f"{4000000 + n}"),
                    "refresh_token_file": str(folder / "tokens" / f"household-{n:03d}.txt"),
                }
                for n in range(ACCOUNTS)
            ]
            listing = folder / "accounts.json"
            listing.write_text(json.dumps(accounts), encoding="utf-8")
            influx.create_database("bench")
            meltano = MeltanoRunner(
                project,
                {
                    "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
                    "WATTIVAHTI_ACCOUNTS_FILE": str(listing),
                    "TAP_WATTIVAHTI_API_URL": sim.api_url,
                    "TAP_WATTIVAHTI_TOKEN_URL": sim.token_url,
                    "TAP_WATTIVAHTI_START_DATE": START,
                    "INFLUXDB_URL": influx.url,
                    "TARGET_INFLUXDB_API_VERSION": "v1",
                    "TARGET_INFLUXDB_DATABASE": "bench",
                },
            )
            sim.available_until = FIRST_END
            first = {"TAP_WATTIVAHTI_END_DATE": FIRST_END.isoformat()}
            run(meltano, sim, "prepared", {**first, "TAP_WATTIVAHTI_MAX_PARALLEL_REQUESTS": "4"},
                folder / "prepared.log")  # fmt: skip
            sim.available_until = HOURLY_END
            hourly = {"TAP_WATTIVAHTI_END_DATE": HOURLY_END.isoformat()}
            figures = [
                measure(
                    f"{workers} in flight",
                    meltano,
                    sim,
                    {**hourly, "TAP_WATTIVAHTI_MAX_PARALLEL_REQUESTS": str(workers)},
                    folder,
                )
                for workers in (1, 2, 4)
            ]
            figures.append(
                measure(
                    "4 in flight, re-read due",
                    meltano,
                    sim,
                    {
                        **hourly,
                        "TAP_WATTIVAHTI_MAX_PARALLEL_REQUESTS": "4",
                        "TAP_WATTIVAHTI_CORRECTION_INTERVAL_HOURS": "0",
                    },
                    folder,
                )
            )
        finally:
            sim.stop()
            influx.stop()
    print(
        f"hourly meltano run, {ACCOUNTS} accounts x 1 metering point, every answer after "
        f"{DELAY_SECONDS * 1000:.0f} ms"
    )
    print(
        f"{'run':<26} {'seconds':>8} {'meterdata req':>13} {'grants':>7} "
        f"{'peak RSS MiB':>12} {'peak PSS MiB':>12} {'state B/point':>13}"
    )
    for f in figures:
        print(
            f"{f.name:<26} {f.seconds:>8.1f} {f.meterdata_requests:>13} {f.grants:>7} "
            f"{f.peak_rss_mib:>12.1f} {f.peak_pss_mib:>12.1f} {f.state_bytes_per_point:>13.0f}"
        )
    one, *_, four = figures[:3]
    print(f"speed-up, 4 in flight against 1: {one.seconds / four.seconds:.2f}x")


if __name__ == "__main__":
    main()
