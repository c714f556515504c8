"""The README's deployment recipes under the real `meltano run`: a backfill started beside the
hourly job, a typo in a setting's name, and the settings files that hold secrets."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from tests.meltano_project import MELTANO, STATE_ID, MeltanoRunner, Result, make_project
from tests.readme import README, backfill_command
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


@pytest.fixture
def own_project(meltano, tmp_path) -> MeltanoRunner:
    """`meltano` in a project folder of its own (its meltano.yml may change), sharing the
    installed plugins of the session's project."""
    project = make_project(tmp_path / "project")
    (project / ".meltano").symlink_to(meltano.project / ".meltano", target_is_directory=True)
    return MeltanoRunner(project, meltano.env)


def plugin_lines(output: str, plugin: str, text: str) -> list[str]:
    """The lines Meltano logged from ``plugin`` at WARNING that contain ``text``."""
    return [
        line
        for line in output.splitlines()
        if "[warning" in line and f"] {plugin} " in line and text in line
    ]


def test_a_correct_project_gives_no_setting_warning_and_a_typo_exactly_one_per_plugin(
    own_project, simulator, influxdb1, influx_database
):
    """Meltano passes each plugin the settings that have a value, and undeclared keys of
    meltano.yml as they are (docs/library-notes.md#meltano-plugin-config)."""
    simulator.available_until = local_midnight_utc(date(2025, 6, 11))
    env = window(date(2025, 6, 10), date(2025, 6, 11))
    correct = own_project.run_pipeline(env=env)
    assert_ok(correct)
    assert "Unknown setting" not in correct.output

    assert_ok(own_project("config", "set", "tap-wattivahti", "correction_day", "3"))
    assert_ok(own_project("config", "set", "target-influxdb", "batch_size_row", "100"))
    typo = own_project.run_pipeline(env=env)
    assert_ok(typo)
    [tap] = plugin_lines(typo.output, "tap-wattivahti", "Unknown setting")
    assert "'correction_day' (did you mean 'correction_days'?)" in tap
    [target] = plugin_lines(typo.output, "target-influxdb", "Unknown setting")
    assert "'batch_size_row' (did you mean 'batch_size_rows'?)" in target
    assert len(stored(influxdb1, influx_database)) == 96


def readme_cron_command() -> str:
    """The command of the README's crontab line."""
    text = README.read_text(encoding="utf-8")
    [line] = re.findall(r"^\s*0 \* \* \* \* (.+)$", text, flags=re.MULTILINE)
    return line


def readme_private_meltano_folder() -> str:
    """The README's set-up line that makes `.meltano/` private."""
    text = README.read_text(encoding="utf-8")
    [line] = re.findall(r"^\s*(mkdir -p \.meltano && chmod \S+ \.meltano)$", text, re.MULTILINE)
    return line


def test_secrets_in_meltanos_settings_files_warn_with_the_default_umask_but_not_as_the_readme_runs(
    meltano, simulator, influxdb1, influx_database, open_folder
):
    """Meltano writes each plugin's settings, secrets included, to `.meltano/run/` with its
    umask; the README's cron line (`umask 077`) and its private `.meltano/` keep them private."""
    project = make_project(open_folder / "project")
    (project / ".meltano").mkdir()
    for folder in (project, project / ".meltano"):
        folder.chmod(0o755)  # as under the default umask, whatever the tests run with
    for folder in ("extractors", "loaders"):  # the session's installed plugins
        (project / ".meltano" / folder).symlink_to(meltano.project / ".meltano" / folder)
    (project / ".venv").symlink_to(Path(MELTANO).parent.parent)  # the cron line's .venv/bin/meltano
    secrets = {
        "TAP_WATTIVAHTI_REFRESH_TOKEN": "rt-unused-Kq81",  # the token file exists: not sent
        "TARGET_INFLUXDB_USERNAME": "loader",
        "TARGET_INFLUXDB_PASSWORD": "pw-Zq8-secret",  # InfluxDB without auth ignores it
    }
    runner = MeltanoRunner(
        project, {**meltano.env, **secrets, **window(date(2025, 6, 10), date(2025, 6, 11))}
    )
    simulator.available_until = local_midnight_utc(date(2025, 6, 11))

    def shell(command: str) -> str:
        done = subprocess.run(
            ["bash", "-e", "-c", command],
            cwd=project,
            env=runner.environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
        return done.stdout + done.stderr

    default_umask = shell(f"umask 022 && {MELTANO} run tap-wattivahti target-influxdb")
    [tap] = plugin_lines(default_umask, "tap-wattivahti", "holds a secret")
    run_folder = project / ".meltano" / "run"
    assert re.search(
        rf"The config file {run_folder}/tap-wattivahti/tap\.[0-9a-f-]+\.config\.json holds a "
        r"secret \(refresh_token\) and other users can read it \(mode 0644\)\. Meltano writes",
        tap,
    ), tap
    [target] = plugin_lines(default_umask, "target-influxdb", "holds a secret")
    assert f"{run_folder}/target-influxdb/target." in target
    assert "holds a secret (password)" in target
    assert "run Meltano with `umask 077`" in target
    assert "(`chmod 700 .meltano`)" in target
    assert not any(secret in default_umask for secret in secrets.values())

    cron = readme_cron_command()
    assert cron.startswith("cd /path/to/wattivahti-meltano && ")
    shell(cron.replace("/path/to/wattivahti-meltano", str(project)))
    log = project / ".meltano" / "cron.log"
    assert "Run completed" in log.read_text()
    assert "holds a secret" not in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600

    shell(readme_private_meltano_folder())
    assert stat.S_IMODE((project / ".meltano").stat().st_mode) == 0o700
    private_folder = shell(f"umask 022 && {MELTANO} run tap-wattivahti target-influxdb")
    assert "Run completed" in private_folder
    assert "holds a secret" not in private_folder
    assert len(stored(influxdb1, influx_database)) == 96
