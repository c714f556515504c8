"""Both plugins' warnings about their config, from their console scripts
(docs/design.md#config-checks): a key that is no setting, and a secret in a config file that
other users can read. Each run still does its work: a warning never fails it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.meltano_project import base_environment
from tests.servers import REPO_ROOT

DAY = {"start_date": "2025-06-10", "end_date": "2025-06-11"}
TARGET_INPUT = REPO_ROOT / "target-influxdb" / "tests" / "data" / "consumption.singer"


@dataclass
class Plugin:
    """One plugin's console script, a config that works, and what its checks should say."""

    name: str
    config: dict[str, Any]
    input_text: str
    typos: dict[str, Any]
    typos_named: str  # how the warning names the typos, in order
    secret: str  # the secret setting ``config`` sets
    works: Callable[[], bool]  # whether the run did its work

    def run(self, config: dict[str, Any], folder: Path, mode: int, *args: str) -> list[str]:
        """Run with ``config`` in a file of ``mode`` in ``folder``; the WARNING lines."""
        file = folder / "config.json"
        file.write_text(json.dumps(config), encoding="utf-8")
        file.chmod(mode)
        module = self.name.replace("-", "_")
        done = subprocess.run(
            [sys.executable, "-m", module, "--config", str(file), *args],
            input=self.input_text,
            env=base_environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-6000:]
        assert self.secret_value not in done.stderr
        return [line.split("| ")[-1] for line in done.stderr.splitlines() if "| WARNING" in line]

    @property
    def secret_value(self) -> str:
        return self.config[self.secret]


@pytest.fixture(params=["tap-wattivahti", "target-influxdb"])
def plugin(request, simulator, influxdb1, influx_database, tmp_path) -> Plugin:
    if request.param == "tap-wattivahti":
        token_file = tmp_path / "token.txt"
        token_file.write_text(simulator.issue_refresh_token() + "\n", encoding="utf-8")
        config = simulator.tap_config(refresh_token_file=str(token_file), **DAY)
        return Plugin(
            name="tap-wattivahti",
            config=config,  # with a refresh_token (unused: the token file has one)
            input_text="",
            typos={"correction_day": 3, "lookbak_hours": 1, "zzz_unrelated": True},
            typos_named="'correction_day' (did you mean 'correction_days'?), "
            "'lookbak_hours' (did you mean 'lookback_hours'?), 'zzz_unrelated'",
            secret="refresh_token",
            works=lambda: bool(simulator.requests("meterdata")),
        )
    config = {"url": influxdb1.url, "database": influx_database, "password": "pw-Zq8-secret"}
    return Plugin(
        name="target-influxdb",
        config=config,  # InfluxDB 1.x without authentication ignores the password
        input_text=TARGET_INPUT.read_text(encoding="utf-8"),
        typos={"batch_size_row": 100, "tag_key": {}, "zzz_unrelated": 1},
        typos_named="'batch_size_row' (did you mean 'batch_size_rows'?), "
        "'tag_key' (did you mean 'tag_keys'?), 'zzz_unrelated'",
        secret="password",
        works=lambda: len(influxdb1.points(influx_database, "consumption")) == 5,
    )


def test_unknown_settings_get_one_warning_naming_each_with_the_closest_setting(plugin, tmp_path):
    warnings = plugin.run({**plugin.config, **plugin.typos}, tmp_path, 0o600)
    assert warnings == [
        f"Unknown setting(s), ignored: {plugin.typos_named}. {plugin.name} has no setting of "
        f"that name; correct it where it is set (meltano.yml, or the --config file): "
        f"`{plugin.name} --about` lists the settings."
    ]
    assert plugin.works()


def test_a_config_file_others_can_read_with_a_secret_gets_one_warning(plugin, open_folder):
    warnings = plugin.run(plugin.config, open_folder, 0o644)
    file = open_folder / "config.json"
    assert warnings == [
        f"The config file {file} holds a secret ({plugin.secret}) and other users can read it "
        f"(mode 0644). Make it private: chmod 600 {file}."
    ]
    assert plugin.works()


@pytest.mark.parametrize("where", ["private file", "private folder", "no secret"])
def test_a_private_config_file_or_folder_or_one_without_a_secret_gets_no_warning(
    plugin, open_folder, where
):
    private = open_folder / "private"
    private.mkdir(mode=0o700)
    config = dict(plugin.config)
    if where == "no secret":
        del config[plugin.secret]
    folder = private if where == "private folder" else open_folder
    assert plugin.run(config, folder, 0o600 if where == "private file" else 0o644) == []
    assert plugin.works()


def test_meltanos_discovery_run_of_the_tap_gives_no_warning(simulator, open_folder, tmp_path):
    """Meltano runs the tap twice, to discover the catalog and to sync: it warns in the sync."""
    config = simulator.tap_config(refresh_token_file=str(tmp_path / "token.txt"), correction_day=3)
    file = open_folder / "config.json"
    file.write_text(json.dumps(config), encoding="utf-8")
    file.chmod(0o644)
    done = subprocess.run(
        [sys.executable, "-m", "tap_wattivahti", "--config", str(file), "--discover"],
        env=base_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["streams"]
    assert "WARNING" not in done.stderr
