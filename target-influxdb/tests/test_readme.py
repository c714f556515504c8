"""The README's settings table is the one `--about --format=markdown` prints."""

from __future__ import annotations

from pathlib import Path

from target_influxdb.target import TargetInfluxDB


def settings_rows(markdown: str) -> list[str]:
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| url |"))
    end = next(i for i, line in enumerate(lines) if line.startswith("| retry_interval |"))
    return lines[start : end + 1]


def test_the_readme_settings_table_matches_about(capsys):
    TargetInfluxDB.print_about("markdown")
    about = capsys.readouterr().out
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert settings_rows(readme) == settings_rows(about)
