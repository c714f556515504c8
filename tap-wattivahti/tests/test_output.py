"""The tap's message writer: the same messages as the SDK's writer, read back."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage
from singer_sdk.singerlib.encoding import SimpleSingerWriter
from tap_wattivahti.output import Writer

EXTRACTED = datetime(2026, 12, 2, 19, 51, 46, 637320, tzinfo=timezone.utc)
COST = {
    "metering_point": "7654321",
    "kind": "consumption",
    "timestamp": "2023-03-04T05:15:00+00:00",
    "resolution": "PT15MIN",
    "kwh": 0.123,
    "spot_price_eur_mwh": -0.01,
    "energy_c_per_kwh": 0.489,
    "transfer_c_per_kwh": 2.9,
    "tax_c_per_kwh": 2.253,
    "energy_eur": 0.006220110000000001,
    "transfer_eur": 1e-05,
    "tax_eur": 0.00277119,
    "vat_eur": 1.5e-07,
    "total_eur": None,
    "priced": True,
}


@pytest.mark.parametrize(
    "message",
    [
        RecordMessage("costs", COST, time_extracted=EXTRACTED),
        RecordMessage("costs", {"kwh": Decimal("0.100"), "n": 3, "big": 1e22}),
        RecordMessage("s", {"name": "Jyväskylä €"}, version=7, time_extracted=EXTRACTED),
        SchemaMessage("costs", {"properties": {"kwh": {"type": "number"}}}, ["kwh"]),
        StateMessage({"bookmarks": {"costs": {"partitions": []}}}),
    ],
)
def test_a_message_reads_back_as_the_sdk_writes_it(message):
    ours, sdk = Writer().format_message(message), SimpleSingerWriter().format_message(message)
    assert json.loads(ours) == json.loads(sdk)
    assert ours.isascii()  # as the SDK's: characters beyond ASCII escaped


def test_time_extracted_keeps_the_offset_form():
    """Python 3.10's fromisoformat (a target's) does not read a trailing Z."""
    line = Writer().format_message(RecordMessage("costs", COST, time_extracted=EXTRACTED))
    assert json.loads(line)["time_extracted"] == "2026-12-02T19:51:46.637320+00:00"
    assert datetime.fromisoformat(json.loads(line)["time_extracted"]) == EXTRACTED


def test_numbers_are_the_same_floats_and_decimals_keep_their_digits():
    line = Writer().format_message(RecordMessage("costs", COST, time_extracted=EXTRACTED))
    assert json.loads(line)["record"] == COST
    exact = Writer().format_message(RecordMessage("s", {"kwh": Decimal("0.100")}))
    assert '"kwh":0.100' in exact
