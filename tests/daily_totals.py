"""The switch for the tap's `daily_totals` stream, which the CSV bill table and the InfluxQL
dashboard use once it exists.

The stream's contract (one record per metering point, kind and local day: `metering_point`,
`kind`, `date`, `day_start`, `resolution`, `expected_periods`, `periods`, `missing_periods`,
`kwh`, `complete`; key properties `metering_point`, `kind`, `day_start`) is what the dashboard's
daily-totals and incomplete-days panels query, as the measurement `electricity_daily` with the
tags `metering_point` and `kind` and the time `day_start`. Until the tap has the stream, those
tests check that their queries run on the real server and find nothing; with the switch on, they
sync the stream and check its numbers. A test fails when the switch and the tap disagree.
"""

from __future__ import annotations

from tap_wattivahti.tap import TapWattiVahti

STREAM = "daily_totals"
MEASUREMENT = "electricity_daily"
# Turn on when the tap has the daily_totals stream.
STREAM_EXISTS = True


def tap_has_the_stream() -> bool:
    tap = TapWattiVahti(config={"metering_points": ["0"]}, parse_env_config=False)
    return STREAM in tap.streams
