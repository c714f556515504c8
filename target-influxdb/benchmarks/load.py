"""Load N consumption-like records into a real InfluxDB 1.x and print the throughput.

    uv run python target-influxdb/benchmarks/load.py            # N = 100k and 1M
    uv run python target-influxdb/benchmarks/load.py 20000      # other sizes
    uv run python target-influxdb/benchmarks/load.py --rounds 5 # more rounds (default 3)

First the start-up: ``target-influxdb --about`` against ``python -c "import
singer_sdk.target_base"`` (the least any singer-sdk target loads), median of 5 runs each,
alternating. Then for each N, on one server started here (tests/servers.py), each into a fresh
database:

- target: ``python -m target_influxdb`` as a child process reading a prepared Singer file on
  stdin, as Meltano runs it (start-up included); its peak RSS is its own memory's high-water
  mark (``VmHWM``).
- plain baseline: the same Singer lines parsed with ``json``, each record a ``Point`` of
  influxdb-client, serialized with ``to_line_protocol()`` and POSTed to ``/write`` in batches of
  the same size. (influxdb-client's write API speaks ``/api/v2/write``, which InfluxDB 1.6 does
  not have, so the baseline POSTs the client's serialization itself, as the target's v1 path does.)
- raw baseline: pre-serialized line protocol POSTed in the same batches (only the POSTs timed).

Each N runs ``--rounds`` rounds (target, plain, raw in turn, each into its own fresh database);
the figures printed are medians over the rounds. Besides wall time, each load prints the CPU
seconds it used (the target's from ``wait4``, the baselines' from this process) and the InfluxDB
server's CPU seconds during it (``/proc/<pid>/stat``), which on a 2-core machine shares the
cores with the loader.

Child processes run with Python's bytecode cache on (``PYTHONDONTWRITEBYTECODE`` removed), as an
installed plugin runs after its first start; a warm-up run fills the cache first.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from influxdb_client import Point, WritePrecision

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.servers import InfluxDB1, influxdb1_binary  # noqa: E402

BATCH = 5000
METERING_POINTS = [f"64{n:016d}" for n in range(10)]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
MEASUREMENT = "electricity_consumption"
SCHEMA = {
    "type": "SCHEMA",
    "stream": "consumption",
    "schema": {
        "type": "object",
        "properties": {
            "metering_point": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "resolution": {"type": "string", "enum": ["PT15MIN", "PT1H"]},
            "consumption_kwh": {"type": "number"},
            "consumption_wh": {"type": "number"},
        },
        "required": ["metering_point", "timestamp", "resolution", "consumption_kwh"],
    },
    "key_properties": ["metering_point", "timestamp"],
    "bookmark_properties": ["timestamp"],
}


def write_singer_file(path: Path, count: int) -> None:
    """SCHEMA, then ``count`` RECORD messages as an SDK tap writes them, a STATE every 10k."""
    extracted = datetime.now(timezone.utc).isoformat()
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(SCHEMA) + "\n")
        for n in range(count):
            point = METERING_POINTS[n % len(METERING_POINTS)]
            moment = START + timedelta(minutes=15 * (n // len(METERING_POINTS)))
            kwh = round((n % 997) * 0.001, 3)
            record = {
                "metering_point": point,
                "timestamp": moment.isoformat(),
                "resolution": "PT15MIN",
                "consumption_kwh": kwh,
                "consumption_wh": round(kwh * 1000, 1),
            }
            message = {
                "type": "RECORD",
                "stream": "consumption",
                "record": record,
                "time_extracted": extracted,
            }
            out.write(json.dumps(message) + "\n")
            if (n + 1) % 10_000 == 0:
                state = {"bookmarks": {"consumption": {"records": n + 1}}}
                out.write(json.dumps({"type": "STATE", "value": state}) + "\n")


CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def seconds(command: list[str]) -> float:
    """Wall time of one run of ``command`` (output discarded)."""
    started = time.perf_counter()
    subprocess.run(command, env=CHILD_ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def startup() -> tuple[float, float]:
    """Median seconds of ``target-influxdb --about`` and of importing the SDK's target base."""
    about = [sys.executable, "-m", "target_influxdb", "--about"]
    sdk = [sys.executable, "-c", "import singer_sdk.target_base"]
    seconds(about)  # warm-up: fills the bytecode cache
    runs: dict[str, list[float]] = {"about": [], "sdk": []}
    for _ in range(5):
        runs["about"].append(seconds(about))
        runs["sdk"].append(seconds(sdk))
    return statistics.median(runs["about"]), statistics.median(runs["sdk"])


def server_cpu(server: InfluxDB1) -> float:
    """CPU seconds (user + system) the server's process has used so far."""
    assert server.process is not None
    stat = Path(f"/proc/{server.process.pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds this process has used so far."""
    times = os.times()
    return times.user + times.system


def run_target(
    server: InfluxDB1, database: str, singer: Path, workdir: Path
) -> tuple[float, int, float]:
    """Seconds, peak RSS (bytes) and CPU seconds of the target loading ``singer``: its CPU from
    ``wait4``, its peak RSS from the kernel's high-water mark of its own memory (``VmHWM``),
    read every 10 ms while it runs. (``wait4``'s ``ru_maxrss`` also counts the memory this
    process holds when it starts the child, e.g. the raw lines of an earlier round.)"""
    config = workdir / "target.json"
    config.write_text(
        json.dumps(
            {
                "url": server.url,
                "database": database,
                "measurements": {"consumption": MEASUREMENT},
                "batch_size_rows": BATCH,
            }
        )
    )
    log = workdir / "target.log"
    with singer.open("rb") as stdin, log.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "target_influxdb", "--config", str(config)],
            env=CHILD_ENV,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        peak = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, high_water_mark(process.pid))
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"target failed:\n{log.read_text()[-3000:]}")
    return elapsed, peak, usage.ru_utime + usage.ru_stime


def high_water_mark(pid: int) -> int:
    """The peak resident memory (bytes) of process ``pid`` so far; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def post_batches(
    session: requests.Session, server: InfluxDB1, database: str, batches: list[bytes]
) -> None:
    for body in batches:
        response = session.post(
            f"{server.url}/write", params={"db": database, "precision": "s"}, data=body, timeout=60
        )
        response.raise_for_status()


def run_plain(server: InfluxDB1, database: str, singer: Path) -> float:
    """Seconds for json + Point + to_line_protocol + POST, batch by batch."""
    session = requests.Session()
    started = time.perf_counter()
    lines: list[str] = []
    with singer.open(encoding="utf-8") as source:
        for text in source:
            message = json.loads(text)
            if message["type"] != "RECORD":
                continue
            record = message["record"]
            point = (
                Point(MEASUREMENT)
                .tag("metering_point", record["metering_point"])
                .field("resolution", record["resolution"])
                .field("consumption_kwh", float(record["consumption_kwh"]))
                .field("consumption_wh", float(record["consumption_wh"]))
                .time(datetime.fromisoformat(record["timestamp"]), WritePrecision.S)
            )
            lines.append(point.to_line_protocol())
            if len(lines) == BATCH:
                post_batches(session, server, database, ["\n".join(lines).encode()])
                lines = []
    if lines:
        post_batches(session, server, database, ["\n".join(lines).encode()])
    elapsed = time.perf_counter() - started
    session.close()
    return elapsed


def raw_batches(count: int) -> list[bytes]:
    """The same records as ready line protocol, in batches of BATCH."""
    batches = []
    lines = []
    for n in range(count):
        point = METERING_POINTS[n % len(METERING_POINTS)]
        seconds = int((START + timedelta(minutes=15 * (n // len(METERING_POINTS)))).timestamp())
        kwh = round((n % 997) * 0.001, 3)
        lines.append(
            f"{MEASUREMENT},metering_point={point} consumption_kwh={kwh},"
            f'consumption_wh={round(kwh * 1000, 1)},resolution="PT15MIN" {seconds}'
        )
        if len(lines) == BATCH:
            batches.append("\n".join(lines).encode())
            lines = []
    if lines:
        batches.append("\n".join(lines).encode())
    return batches


def run_raw(server: InfluxDB1, database: str, count: int) -> tuple[float, int, float]:
    """Seconds and CPU seconds to POST pre-serialized line protocol (built first, here, and
    not timed)."""
    batches = raw_batches(count)
    session = requests.Session()
    cpu = own_cpu()
    started = time.perf_counter()
    post_batches(session, server, database, batches)
    elapsed = time.perf_counter() - started
    session.close()
    return elapsed, 0, own_cpu() - cpu


def stored(server: InfluxDB1, database: str) -> int:
    query = f'SELECT count("consumption_kwh") FROM "{MEASUREMENT}"'  # noqa: S608 - constant
    series = server.query(query, database)
    return int(series[0]["values"][0][1]) if series else 0


def check_stored(server: InfluxDB1, database: str, count: int, name: str) -> None:
    """Stop unless the load stored all ``count`` points; a short count is printed and counted
    again, up to five times, 2 s apart."""
    found = stored(server, database)
    for _ in range(5):
        if found == count:
            return
        print(f"  ({name}: {found:,} of {count:,} points counted; counting again in 2 s)")
        time.sleep(2)
        found = stored(server, database)
    if found != count:
        raise SystemExit(f"{name}: {found:,} of {count:,} points stored")


def measure(load: Callable[[], float | tuple[float, int, float]], server: InfluxDB1) -> dict:
    """Wall seconds, loader CPU seconds, server CPU seconds (and the target's peak RSS) of one
    load; ``load`` returns its wall seconds, or (wall, peak RSS, CPU) of what it timed."""
    server_before, own_before = server_cpu(server), own_cpu()
    result = load()
    server_after, own_after = server_cpu(server), own_cpu()
    wall, peak, cpu = result if isinstance(result, tuple) else (result, 0, own_after - own_before)
    return {"wall": wall, "cpu": cpu, "server": server_after - server_before, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    about_s, sdk_s = startup()
    print(
        f"start-up: target-influxdb --about {about_s:.2f} s, import singer_sdk.target_base "
        f"{sdk_s:.2f} s: ratio {about_s / sdk_s:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="target-influxdb-bench-") as tmp:
        workdir = Path(tmp)
        server = InfluxDB1(influxdb1_binary(), workdir)
        server.start()
        try:
            peaks = {}
            for count in args.sizes:
                singer = workdir / f"consumption-{count}.singer"
                write_singer_file(singer, count)
                runs: dict[str, list[dict[str, float]]] = {"target": [], "plain": [], "raw": []}
                for round_ in range(args.rounds):
                    names = {name: f"{name}_{count}_{round_}" for name in runs}
                    for database in names.values():
                        server.create_database(database)
                    target = functools.partial(run_target, server, names["target"], singer, workdir)
                    runs["target"].append(measure(target, server))
                    plain = functools.partial(run_plain, server, names["plain"], singer)
                    runs["plain"].append(measure(plain, server))
                    raw = functools.partial(run_raw, server, names["raw"], count)
                    runs["raw"].append(measure(raw, server))
                    for name, database in names.items():
                        check_stored(server, database, count, name)
                med = {
                    name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                    for name, rs in runs.items()
                }
                print(
                    f"N = {count:,} records, batches of {BATCH} ({server.version}), "
                    f"median of {args.rounds} alternating rounds"
                )
                for name, m in med.items():
                    cpu, server_cpu_ = (m[k] / count * 1e6 for k in ("cpu", "server"))
                    print(
                        f"  {name + ':':<7} {count / m['wall']:>10,.0f} records/s  "
                        f"({m['wall']:.2f} s; CPU {m['cpu']:.2f} s, {cpu:.1f} µs/record; "
                        f"server CPU {m['server']:.2f} s, {server_cpu_:.1f} µs/record)"
                    )
                peaks[count] = max(r["peak"] for r in runs["target"])
                t, p, r = (med[name]["wall"] for name in ("target", "plain", "raw"))
                print(f"  target / plain: {p / t:.2f}")
                print(f"  target / raw:   {r / t:.2f}")
                rounds = ", ".join(f"{r['peak'] / 2**20:.0f}" for r in runs["target"])
                print(f"  target peak RSS: {peaks[count] / 2**20:.0f} MiB (rounds: {rounds} MiB)")
                singer.unlink()
            if len(peaks) > 1:
                print(
                    "peak RSS by N: "
                    + ", ".join(
                        f"{count:,}: {peak / 2**20:.0f} MiB" for count, peak in peaks.items()
                    )
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
