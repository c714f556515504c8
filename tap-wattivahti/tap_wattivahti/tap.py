"""The WattiVahti tap: settings and streams (filled in by the tap issue)."""

from __future__ import annotations

from singer_sdk import Stream, Tap
from singer_sdk import typing as th


class TapWattiVahti(Tap):
    """Singer tap for WattiVahti electricity data."""

    name = "tap-wattivahti"
    config_jsonschema = th.PropertiesList(
        th.Property(
            "metering_points",
            th.ArrayType(th.StringType),
            required=True,
            title="Metering points",
            description="Metering point codes to sync, one partition each.",
        ),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        """Return the streams (none yet)."""
        return []
