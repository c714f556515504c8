"""The demo: the real `meltano run tap-wattivahti target-influxdb`, against the WattiVahti simulator
and a local InfluxDB 1.x, for October 2025 (its last Sunday is the 25-hour DST day).

1. starts the simulator (data available up to 2025-10-28) and InfluxDB 1.x,
2. runs the pipeline for a first sync (2025-10-20 → available data),
3. makes three more days available and runs it again: an incremental run fetches only the
   lookback and the new data,
4. prints per day what landed in InfluxDB next to the simulator's truth, and the spot prices
   (from the Elering simulator) next to its truth, and stops what it started.

``--serve`` keeps the simulator and InfluxDB running afterwards, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psutil

from tests.meltano_project import MeltanoRunner, install, make_project
from tests.price_simulators import EleringSimulator
from tests.servers import REPO_ROOT, InfluxDB1, influxdb1_binary
from tests.simulator import HELSINKI, SEED_METERING_POINT, Simulator, local_midnight_utc

UTC = timezone.utc
DATABASE = "electricity"
FIRST_DAY = date(2025, 10, 20)
FIRST_SYNC_UNTIL = date(2025, 10, 28)
SECOND_SYNC_UNTIL = date(2025, 10, 31)
PROJECT = REPO_ROOT / ".cache" / "demo-project"
DEMO_STATE_ID = "demo:tap-wattivahti-to-target-influxdb"


def demo_runner(
    sim: Simulator, elering: EleringSimulator, influx: InfluxDB1, workdir: Path
) -> MeltanoRunner:
    """The project in .cache/demo-project, configured the way a user would, through variables."""
    token_file = workdir / "refresh_token.txt"
    token_file.write_text(sim.issue_refresh_token() + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    return MeltanoRunner(
        PROJECT,
        {
            "MELTANO_ENVIRONMENT": "demo",
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
            "WATTIVAHTI_METERING_POINT": SEED_METERING_POINT,
            "REFRESH_TOKEN_FILE": str(token_file),
            "TAP_WATTIVAHTI_API_URL": sim.api_url,
            "TAP_WATTIVAHTI_TOKEN_URL": sim.token_url,
            "TAP_WATTIVAHTI_ELERING_URL": elering.url,
            "INFLUXDB_URL": influx.url,
        },
    )


def run_pipeline(
    meltano: MeltanoRunner, sim: Simulator, elering: EleringSimulator, title: str
) -> None:
    """`meltano run tap-wattivahti target-influxdb`, with its wall time and peak memory."""
    sim.clear_log()
    elering.clear_log()
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        process = meltano.popen("run", "tap-wattivahti", "target-influxdb", output=log)
        peak_total, peak_single = _peak_memory(process)
        seconds = time.monotonic() - started
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        print(output[-4000:])
        raise SystemExit(f"{title}: meltano run failed with exit code {process.returncode}")
    windows = [(r.params["start"], r.params["stop"]) for r in sim.requests("meterdata")]
    print(
        f"{title}: meltano run took {seconds:.1f} s, peak memory {peak_total:.0f} MiB "
        f"(meltano, tap and target together; largest process {peak_single:.0f} MiB), "
        f"{len(windows)} API request(s) and {len(elering.requests())} price request(s):"
    )
    for start, stop in windows:
        print(f"    {start} → {stop}")


def _peak_memory(process: subprocess.Popen[str]) -> tuple[float, float]:
    """Wait for ``process``, sampling the resident memory of it and its children (MiB)."""
    root = psutil.Process(process.pid)
    peak_total = peak_single = 0.0
    while process.poll() is None:
        try:
            sizes = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
        except psutil.Error:
            sizes = []
        peak_total = max(peak_total, sum(sizes) / 2**20)
        peak_single = max([peak_single, *(size / 2**20 for size in sizes)])
        time.sleep(0.05)
    return peak_total, peak_single


def print_days(influx: InfluxDB1, sim: Simulator) -> None:
    stop = SECOND_SYNC_UNTIL
    series = influx.query(
        'SELECT count("consumption_kwh"), sum("consumption_kwh") FROM "electricity_consumption" '
        f"WHERE time >= '{local_midnight_utc(FIRST_DAY).isoformat()}' "
        f"AND time < '{local_midnight_utc(stop).isoformat()}' "
        "GROUP BY time(1d) tz('Europe/Helsinki')",
        DATABASE,
    )
    stored = {
        datetime.fromtimestamp(row[0], tz=HELSINKI).date(): (row[1], row[2])
        for s in series
        for row in s["values"]
    }
    print()
    print("Day (Helsinki)   points   kWh stored   kWh (simulator truth)")
    day = FIRST_DAY
    all_match = True
    while day < stop:
        start_utc, stop_utc = local_midnight_utc(day), local_midnight_utc(day + timedelta(days=1))
        truth = sim.truth(SEED_METERING_POINT, start_utc, stop_utc)
        points, kwh = stored.get(day, (0, 0.0))
        kwh = kwh or 0.0
        match = points == len(truth) and abs(kwh - sum(truth.values()) / 1000) < 0.0005
        all_match &= match
        note = "  ← fall DST day: 25 hours, 100 quarter hours" if points == 100 else ""
        print(
            f"{day}       {points:>4}   {kwh:>10.3f}   {sum(truth.values()) / 1000:>10.3f}"
            f"  {'ok' if match else 'MISMATCH'}{note}"
        )
        day += timedelta(days=1)
    print()
    print("Every day matches the simulator's truth." if all_match else "Some days do NOT match!")
    if not all_match:
        raise SystemExit(1)


def print_prices(influx: InfluxDB1, elering: EleringSimulator) -> None:
    """The spot prices stored, per local day, against the Elering simulator's."""
    start, stop = local_midnight_utc(FIRST_DAY), local_midnight_utc(date(2025, 11, 1))
    series = influx.query(
        f'SELECT "price_eur_mwh" FROM "electricity_price" WHERE time >= '
        f"'{start.isoformat()}' AND time < '{stop.isoformat()}'",
        DATABASE,
    )
    stored = {datetime.fromtimestamp(t, tz=UTC): v for s in series for t, v in s["values"]}
    truth = {i: float(p.eur_mwh) for i, p in elering.truth("FI", start, stop).items()}
    fall = sum(1 for i in stored if i.astimezone(HELSINKI).date() == date(2025, 10, 26))
    same = stored == truth
    print(
        f"Spot prices: {len(stored)} quarter hours in electricity_price ({fall} on the fall DST "
        f"day), {'equal to' if same else 'NOT equal to'} the Elering simulator's."
    )
    if not same:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep the servers running at the end")
    args = parser.parse_args(argv)
    started = time.monotonic()
    make_project(PROJECT)
    installed = install(PROJECT)
    if installed.returncode != 0:
        print(installed.stdout[-4000:], installed.stderr[-4000:])
        raise SystemExit("meltano install failed")
    print(f"meltano install: ok ({time.monotonic() - started:.1f} s)")
    with (
        tempfile.TemporaryDirectory(prefix="wattivahti-demo-") as tmp,
        Simulator() as sim,
        EleringSimulator() as elering,
    ):
        workdir = Path(tmp)
        sim.available_until = local_midnight_utc(FIRST_SYNC_UNTIL)
        influx = InfluxDB1(influxdb1_binary(), workdir)
        influx.start()
        try:
            influx.create_database(DATABASE)
            print(
                f"WattiVahti simulator at {sim.base_url}; Elering simulator at {elering.url}; "
                f"InfluxDB {influx.version} at {influx.url}"
            )
            meltano = demo_runner(sim, elering, influx, workdir)
            run_pipeline(meltano, sim, elering, "First sync")
            sim.available_until = local_midnight_utc(SECOND_SYNC_UNTIL)
            run_pipeline(meltano, sim, elering, "Incremental run")
            print_days(influx, sim)
            print_prices(influx, elering)
            print(f"Bookmark: {meltano.bookmarks(DEMO_STATE_ID)}")
            print(f"Demo finished in {time.monotonic() - started:.1f} s.")
            if args.serve:
                print("Serving until Ctrl-C.")
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            influx.stop()


if __name__ == "__main__":
    main()
