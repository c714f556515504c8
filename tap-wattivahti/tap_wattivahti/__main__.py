"""Run the tap with `python -m tap_wattivahti`."""

from __future__ import annotations

from tap_wattivahti.tap import TapWattiVahti

TapWattiVahti.cli()
