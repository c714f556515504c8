"""The shipped project installs its plugins from their folders, not editable (so that Meltano
caches the tap's catalog): a change to a plugin's code must reach Meltano's copy with the next
`meltano install`, and that install must drop the plugin's cached run files (the catalog)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.meltano_project import MeltanoRunner

PACKAGE = """\
[project]
name = "hello-plugin"
version = "0.1.0"
scripts = { hello-plugin = "hello_plugin:main" }

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""


def meltano(project: Path, *args: str) -> str:
    done = MeltanoRunner(project)(*args)
    assert done.returncode == 0, done.output[-4000:]
    return done.stdout


def write_plugin(folder: Path, answer: str) -> None:
    module = folder / "hello_plugin" / "__init__.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(f"def main():\n    print({answer!r})\n", encoding="utf-8")


def test_meltano_install_takes_a_changed_local_plugin_and_drops_its_run_files(tmp_path):
    project = tmp_path / "project"
    (project / "hello").mkdir(parents=True)
    (project / "hello" / "pyproject.toml").write_text(PACKAGE, encoding="utf-8")
    write_plugin(project / "hello", "first")
    manifest = {
        "project_id": "install-check",
        "send_anonymous_usage_stats": False,
        "plugins": {
            "utilities": [
                {"name": "hello-plugin", "namespace": "hello_plugin", "pip_url": "./hello"}
            ]
        },
    }
    (project / "meltano.yml").write_text(yaml.safe_dump(manifest), encoding="utf-8")

    meltano(project, "install")
    assert meltano(project, "invoke", "hello-plugin").strip() == "first"

    write_plugin(project / "hello", "second")
    cached = project / ".meltano" / "run" / "hello-plugin" / "tap.properties.json"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text("{}", encoding="utf-8")
    meltano(project, "install")
    assert meltano(project, "invoke", "hello-plugin").strip() == "second"
    assert not cached.exists()
