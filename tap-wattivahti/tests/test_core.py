"""The SDK's standard tap tests against the simulator, plus what they do not check themselves.

The SDK builds the test class (and a tap) at import, so the simulator starts here at import.
A catalog selects ``production`` and ``spot_prices`` too (they are not selected by default), so
the suite checks every stream; the prices come from a simulated Elering, and contract terms give
``costs`` and ``monthly_bills`` records. Every standard test
creates new tap instances: they share the token file, which keeps strict refresh-token rotation
working across them. The environment is not read
(``parse_env_config=False``), so stray ``TAP_WATTIVAHTI_*`` variables cannot change the config.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.testing import get_tap_test_class
from tap_wattivahti.tap import TapWattiVahti

from tests.price_simulators import EleringSimulator
from tests.simulator import MeteringPoint, Simulator, local_midnight_utc

SIMULATOR = Simulator(
    [MeteringPoint("1234567", production=True), MeteringPoint("7654321", production=True)]
).start()
ELERING = EleringSimulator().start()
TOKEN_FOLDER = tempfile.TemporaryDirectory(prefix="tap-wattivahti-core-")
CONFIG = SIMULATOR.tap_config(
    refresh_token_file=str(Path(TOKEN_FOLDER.name) / "refresh_token.txt"),
    start_date="2025-06-10",
    end_date="2025-06-11",
    retry_wait_seconds=0.05,
    elering_url=ELERING.url,
    # Terms, so that costs and monthly_bills have records for the suite to check as well.
    energy_contracts=[
        {"from": "2025-01-01", "type": "spot", "margin_c_per_kwh": 0.49, "monthly_fee_eur": 3.9}
    ],
    network_tariffs=[
        {"from": "2025-01-01", "type": "general", "c_per_kwh": 2.9, "monthly_fee_eur": 7.5}
    ],
    production_contracts=[{"from": "2025-01-01", "margin_c_per_kwh": 0.3}],
)


def _catalog_with_every_stream_selected() -> dict:
    """Production and spot_prices are not selected by default; the suite checks every stream."""
    catalog = TapWattiVahti(config=CONFIG, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = True
    return catalog


# Typed as Any: the factory returns a class built at run time, which type checkers cannot subclass.
StandardTests: Any = get_tap_test_class(
    TapWattiVahti,
    config=CONFIG,
    parse_env_config=False,
    catalog=_catalog_with_every_stream_selected(),
)


@pytest.fixture(scope="module", autouse=True)
def _simulator_lifetime() -> Iterator[None]:
    yield
    SIMULATOR.stop()
    ELERING.stop()
    TOKEN_FOLDER.cleanup()


# `_sdc_deleted_at` is in the schema but only on deletion records, which a first run never
# emits (test_withdrawn.py checks them against the schema); the SDK's standard test warns
# of a schema field no record has. Only that field is let through.
@pytest.mark.filterwarnings(
    r"ignore:Fields in transformed catalog but not in records. "
    r"\(\{'_sdc_deleted_at'\}\)$:UserWarning"
)
class TestTapWattiVahti(StandardTests):
    """Standard tests, and the final state's content (which ``valid_final_state`` skips)."""

    def test_final_state_has_a_resumable_bookmark_per_synced_metering_point(self, runner):
        state = runner.state_messages[-1]["value"]
        records = runner.records["consumption"]
        assert len(records) == 150  # the suite's record limit: 96 + 54
        partitions = state["bookmarks"]["consumption"]["partitions"]
        bookmarks = {p["context"]["metering_point"]: p for p in partitions}
        first = bookmarks["1234567"]
        assert first["replication_key"] == "timestamp"
        assert first["replication_key_value"] == "2025-06-10T20:45:00+00:00"
        assert "progress_markers" not in first
        second = [r for r in records if r["metering_point"] == "7654321"]
        assert bookmarks["7654321"]["replication_key_value"] == second[-1]["timestamp"]

    def test_standard_runs_rotated_the_token_through_the_shared_file(self, runner):
        del runner  # its sync has run; a new tap refreshes once more, as each standard test's
        # does (under pytest-xdist this test may be the first of the suite in its worker)
        TapWattiVahti(config=CONFIG, parse_env_config=False).authenticator("1234567").refresh()
        tokens = [r.params["refresh_token"] for r in SIMULATOR.requests("token")]
        assert len(tokens) >= 2
        assert len(set(tokens)) == len(tokens)
        stored = Path(CONFIG["refresh_token_file"]).read_text().strip()
        assert SIMULATOR.valid_refresh_tokens() == [stored]

    def test_production_records_match_the_ground_truth(self, runner):
        produced = [r for r in runner.records["production"] if r["metering_point"] == "1234567"]
        start, stop = local_midnight_utc(date(2025, 6, 10)), local_midnight_utc(date(2025, 6, 11))
        truth = SIMULATOR.truth("1234567", start, stop, measurement_type=6)
        assert len(produced) == 96
        assert {r["timestamp"]: r["production_wh"] for r in produced} == {
            instant.isoformat(): float(wh) for instant, wh in truth.items()
        }

    def test_spot_prices_match_the_ground_truth(self, runner):
        start, stop = local_midnight_utc(date(2025, 6, 10)), local_midnight_utc(date(2025, 6, 11))
        truth = ELERING.truth("FI", start, stop)
        assert len(truth) == 24  # hourly: before the 15-minute go-live
        assert {r["timestamp"]: r["price_eur_mwh"] for r in runner.records["spot_prices"]} == {
            instant.isoformat(): float(price.eur_mwh) for instant, price in truth.items()
        }
