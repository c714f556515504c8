"""Hourly benchmark: where the wall time of the hourly `meltano run` goes.

Run from the repository root: ``uv run python benchmarks/hourly.py [--runs N] [--keep DIR]``.

The shipped project is copied and `meltano install`-ed; two trivial plugins are added to the copy
(an extractor that prints one STATE message and a loader that passes it back, both shell
scripts, so neither is a Python process). The WattiVahti simulator and the Elering simulator stand
in for the services, a real InfluxDB 1.x for the server. A first run syncs two days (not
measured). Then the hourly run (one more hour of data, as cron runs it: no end_date), the
trivial `meltano run`, and the trivial run of the same two scripts declared as plugins with the
real ones' settings and config (what Meltano spends on those settings alone) alternate, N times
each; printed are their medians and the ratios, in wall seconds and in CPU seconds (user and
system time of the whole process tree, Meltano and the plugins, from getrusage), which vary less
than the wall time on a shared machine.

Where the time goes comes from one more hourly run with Meltano's JSON log (every line Meltano
and the plugins write, stamped by Meltano as it reads it): Meltano's own start-up (process start
to its first line), the discovery run of the tap, each plugin's start-up (the plugin process
started to its first line), the token grant, the API requests, the write, and Meltano's end
(the last line of the plugins to the exit: the state stored, files removed). The plugins'
`--about` and the bare ``import singer_sdk`` are timed in the plugins' own virtual environments,
alternating, median of N.

The shipped project installs the two plugins from their folders without ``-e``, so that Meltano
caches the tap's catalog (docs/library-notes.md#meltano-catalog-cache); with ``--editable`` the
copy installs them with ``-e``, as the project did before, and Meltano discovers on every run.

``PYTHONDONTWRITEBYTECODE`` is dropped from the runs' environment: a household's cron does not
set it, and with it set Python compiles an editable plugin's sources on every start.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

# After the path setup:
from tests.meltano_project import MELTANO, MeltanoRunner, install, make_project  # noqa: E402
from tests.price_simulators import EleringSimulator  # noqa: E402
from tests.servers import InfluxDB1, influxdb1_binary  # noqa: E402
from tests.simulator import SEED_METERING_POINT, Simulator  # noqa: E402

UTC = timezone.utc
TRIVIAL_TAP = '#!/bin/sh\necho \'{"type": "STATE", "value": {"done": true}}\'\n'
TRIVIAL_TARGET = "#!/bin/sh\nexec cat\n"


def add_trivial_plugins(project: Path, *, editable: bool) -> None:
    """Declare the two shell-script plugins in the project copy's meltano.yml (and with
    ``editable``, install the project's plugins editable)."""
    for name, text in (("trivial-tap", TRIVIAL_TAP), ("trivial-target", TRIVIAL_TARGET)):
        script = project / f"{name}.sh"
        script.write_text(text, encoding="utf-8")
        script.chmod(0o755)
    path = project / "meltano.yml"
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    plugins = manifest["plugins"]
    for plugin in plugins["extractors"] + plugins["loaders"]:
        if editable and plugin.get("pip_url", "").startswith("./"):
            plugin["pip_url"] = "-e " + plugin["pip_url"]
    plugins["extractors"].append(
        {"name": "trivial-tap", "namespace": "trivial_tap", "executable": "./trivial-tap.sh"}
    )
    plugins["loaders"].append(
        {"name": "trivial-target", "namespace": "trivial_target",
         "executable": "./trivial-target.sh"}
    )  # fmt: skip
    # The same shell scripts as plugins with the real ones' settings, config and namespace (so
    # their variables too): what Meltano's work on those settings costs.
    for kind, real, name in (("extractors", "tap-wattivahti", "settings-tap"),
                             ("loaders", "target-influxdb", "settings-target")):  # fmt: skip
        [plugin] = [p for p in plugins[kind] if p["name"] == real]
        copy = {k: v for k, v in plugin.items() if k in ("namespace", "settings", "config")}
        script = "trivial-tap" if kind == "extractors" else "trivial-target"
        plugins[kind].append({"name": name, **copy, "executable": f"./{script}.sh"})
    path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")


class Timing(NamedTuple):
    """Wall seconds and CPU seconds (user and system, of the process and all it started)."""

    wall: float
    cpu: float


def run(command: list[str], **kwargs: Any) -> tuple[Timing, subprocess.CompletedProcess[str]]:
    """Run ``command`` (which must succeed) and time it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"[-4000:])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Timing(wall, cpu), done


def alternate(runs: int, *jobs: Callable[[], Timing]) -> list[Timing]:
    """Median wall and CPU seconds of each job, the jobs run in turn ``runs`` times."""
    timings: list[list[Timing]] = [[] for _ in jobs]
    for _ in range(runs):
        for i, job in enumerate(jobs):
            timings[i].append(job())
    return [
        Timing(statistics.median(t.wall for t in ts), statistics.median(t.cpu for t in ts))
        for ts in timings
    ]


def parse_log(text: str) -> list[tuple[float, dict[str, Any]]]:
    """Meltano's JSON log lines as (seconds since the epoch, event)."""
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "timestamp" in event:
            stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            events.append((stamp.timestamp(), event))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each (median)")
    parser.add_argument("--keep", type=Path, help="keep the project and logs in this folder")
    parser.add_argument(
        "--editable",
        action="store_true",
        help="install the two plugins editable (Meltano then discovers the catalog on every run)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hourly-bench-")) if args.keep is None else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    try:
        report = measure(folder, args.runs, editable=args.editable)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(report)


def measure(folder: Path, runs: int, *, editable: bool) -> str:
    project = make_project(folder / "project")
    add_trivial_plugins(project, editable=editable)
    installed = install(project)
    if installed.returncode != 0:
        raise SystemExit(installed.stderr)
    influx = InfluxDB1(influxdb1_binary(), folder)
    influx.start()
    sim = Simulator()
    elering = EleringSimulator()
    sim.start()
    elering.start()
    try:
        influx.create_database("bench")
        token_file = folder / "refresh_token.txt"
        token_file.write_text(sim.issue_refresh_token() + "\n", encoding="utf-8")
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        meltano = MeltanoRunner(
            project,
            {
                "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
                "WATTIVAHTI_METERING_POINT": SEED_METERING_POINT,
                "REFRESH_TOKEN_FILE": str(token_file),
                "TAP_WATTIVAHTI_API_URL": sim.api_url,
                "TAP_WATTIVAHTI_TOKEN_URL": sim.token_url,
                "TAP_WATTIVAHTI_ELERING_URL": elering.url,
                "TAP_WATTIVAHTI_START_DATE": (now - timedelta(days=2)).date().isoformat(),
                "INFLUXDB_URL": influx.url,
                "TARGET_INFLUXDB_API_VERSION": "v1",
                "TARGET_INFLUXDB_DATABASE": "bench",
            },
        )
        environment = meltano.environment()
        environment.pop("PYTHONDONTWRITEBYTECODE", None)
        hours = iter(range(-runs - 2, 0))

        def meltano_run(*plugins: str, log: Path | None = None) -> Timing:
            options = ["--log-format", "json", "--log-level", "debug"] if log else []
            epoch = time.time()
            timing, done = run([MELTANO, *options, "run", *plugins], cwd=project, env=environment)
            if log:
                log.write_text(f"{epoch}\n{done.stderr}", encoding="utf-8")
            return timing

        def hourly(log: Path | None = None) -> Timing:
            sim.available_until = now + timedelta(hours=next(hours))
            return meltano_run("tap-wattivahti", "target-influxdb", log=log)

        def trivial(log: Path | None = None) -> Timing:
            return meltano_run("trivial-tap", "trivial-target", log=log)

        def with_settings() -> Timing:
            return meltano_run("settings-tap", "settings-target")

        hourly()  # the first run: two days, the settlement re-read
        ours, theirs, settled = alternate(runs, hourly, trivial, with_settings)
        sim.clear_log()
        profile_log = folder / "profile.log"
        wall = hourly(profile_log).wall
        trivial_log = folder / "trivial.log"
        trivial_wall = trivial(trivial_log).wall
        requests = sim.requests()
        breakdown = where_it_goes(profile_log, wall, trivial_log, trivial_wall)
        abouts = plugin_starts(project, runs, environment)
    finally:
        sim.stop()
        elering.stop()
        influx.stop()
    install_kind = "editable" if editable else "not editable"
    lines = [
        f"plugins installed {install_kind}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs",
        f"median of {runs}, alternating        {'wall s':>8} {'CPU s':>8}",
        f"hourly meltano run (one new hour) {ours.wall:>8.2f} {ours.cpu:>8.2f}",
        f"trivial meltano run (two shells)  {theirs.wall:>8.2f} {theirs.cpu:>8.2f}",
        f"ratio hourly / trivial            {ours.wall / theirs.wall:>7.2f}x "
        f"{ours.cpu / theirs.cpu:>7.2f}x   (target <= 1.5x)",
        f"trivial run, the plugins' settings{settled.wall:>8.2f} {settled.cpu:>8.2f}"
        f"   (the two shells, declared with the real plugins' settings)",
        f"ratio that / trivial              {settled.wall / theirs.wall:>7.2f}x "
        f"{settled.cpu / theirs.cpu:>7.2f}x   (Meltano's work on the settings alone)",
        f"ratio hourly / that               {ours.wall / settled.wall:>7.2f}x "
        f"{ours.cpu / settled.cpu:>7.2f}x   (what the two plugins' processes add)",
        "",
        f"where one hourly run's {wall:.2f} s go (Meltano's log stamps; "
        f"{len(requests)} simulator requests: "
        + ", ".join(
            f"{k} {sum(r.kind == k for r in requests)}" for k in sorted({r.kind for r in requests})
        )
        + ")",
        *breakdown,
        "",
        *abouts,
    ]
    return "\n".join(lines)


def first(
    events: list[tuple[float, dict[str, Any]]],
    text: str,
    after: float = 0.0,
    plugin: str | None = None,
) -> float | None:
    """Stamp of the first event at or after ``after`` whose message holds ``text`` (from
    ``plugin`` when given)."""
    for stamp, event in events:
        source = event.get("string_id") or event.get("name")
        if stamp >= after and text in str(event.get("event")) and plugin in (None, source):
            return stamp
    return None


def last(events: list[tuple[float, dict[str, Any]]], plugin: str, before: float) -> float | None:
    """Stamp of ``plugin``'s last line before ``before``."""
    stamps = [s for s, e in events if e.get("string_id") == plugin and s < before]
    return stamps[-1] if stamps else None


def spans(log: Path, wall: float, tap: str, target: str) -> dict[str, float | None]:
    """Where one `meltano run` went, from its debug JSON log (None: not in this run)."""
    began_text, _, text = log.read_text(encoding="utf-8").partition("\n")
    began = float(began_text)
    events = parse_log(text)

    def span(start: float | None, stop: float | None) -> float | None:
        return None if start is None or stop is None else stop - start

    job = first(events, "Running job with name")
    tap_config = first(events, "Created configuration at", after=job or 0)
    discovery = first(events, "Running catalog discovery")
    invoked = [s for s, e in events if str(e.get("event")).startswith("Invoking:")]
    sync_invoked, target_invoked = invoked[-2], invoked[-1]
    tap_first = first(events, "", after=sync_invoked, plugin=tap)
    target_first = first(events, "", after=target_invoked, plugin=target)
    grant = first(events, "Refreshed the WattiVahti access token", plugin=tap)
    token_asked = first(events, "Starting new HTTP connection", plugin=tap)
    api_done = None
    for stamp, event in events:
        if "GET /api/" in str(event.get("event")):
            api_done = stamp
    write_began = first(events, "Cleaning up", plugin=target)
    write_done = first(events, "stored a batch", plugin=target)
    producer_done = first(events, "head producer completed")
    state_writes = 0.0
    for stamp, event in events:
        if "Added to state" in str(event.get("event")):
            stored = first(events, "Incremental state has been updated", after=stamp)
            state_writes += (stored or stamp) - stamp
    completed = first(events, "Run completed")
    return {
        "Meltano start-up (imports, CLI)": span(began, events[0][0]),
        "Meltano: project, plugins, job": span(events[0][0], job),
        "Meltano: the tap's config": span(job, tap_config),
        "discovery (tap run, catalog rules)": span(discovery, sync_invoked),
        "Meltano: the target's config": span(sync_invoked, target_invoked),
        "tap start-up (started to first line)": span(sync_invoked, tap_first),
        "target start-up (started to first line)": span(target_invoked, target_first),
        "token grant": span(token_asked, grant),
        "API (meter data after the grant)": span(grant, api_done),
        "tap's end (last message to exit)": span(
            last(events, tap, producer_done or 0), producer_done
        ),
        "write (target's last flush)": span(write_began, write_done),
        "state stored by Meltano (sum)": state_writes or None,
        "Meltano's end (run completed to exit)": span(completed, began + wall),
    }


def where_it_goes(
    hourly: Path, hourly_wall: float, trivial: Path, trivial_wall: float
) -> list[str]:
    """The hourly run's spans beside the trivial run's."""
    ours = spans(hourly, hourly_wall, "tap-wattivahti", "target-influxdb")
    theirs = spans(trivial, trivial_wall, "trivial-tap", "trivial-target")
    lines = [f"  {'span':<42} {'hourly':>7} {'trivial':>7}"]
    for name, seconds in ours.items():
        other = theirs[name]
        lines.append(f"  {name:<42} {_s(seconds):>7} {_s(other):>7}")
    lines.append(f"  {'whole run (wall)':<42} {_s(hourly_wall):>7} {_s(trivial_wall):>7}")
    return lines


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def plugin_starts(project: Path, runs: int, environment: dict[str, str]) -> list[str]:
    """`--about` of both plugins against ``import singer_sdk``, in the plugins' environments."""
    tap_bin = project / ".meltano/extractors/tap-wattivahti/venv/bin"
    target_bin = project / ".meltano/loaders/target-influxdb/venv/bin"
    jobs = {
        "python -c 'import singer_sdk'": [str(tap_bin / "python"), "-c", "import singer_sdk"],
        "tap-wattivahti --about": [str(tap_bin / "tap-wattivahti"), "--about"],
        "target-influxdb --about": [str(target_bin / "target-influxdb"), "--about"],
    }
    medians = alternate(runs, *[lambda c=c: run(c, env=environment)[0] for c in jobs.values()])
    base = medians[0]
    return (
        [f"plugin start-up, median of {runs}, alternating: {'wall s':>8} {'CPU s':>14}"]
        + [
            f"  {name:<30} {m.wall:>8.3f} {m.wall / base.wall:.2f}x {m.cpu:>8.3f} "
            f"{m.cpu / base.cpu:.2f}x"
            for name, m in zip(jobs, medians, strict=True)
        ]
        + ["  (target: each --about <= 1.2x the import)"]
    )


if __name__ == "__main__":
    main()
