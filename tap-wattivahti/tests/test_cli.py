"""The command line: --about, --discover, stream maps, setting errors, and no secret in output."""

from __future__ import annotations

import json

import pytest
from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.settings import Settings, parse_metering_points

from tests.simulator import Fault

DAY = {"start_date": "2025-06-10", "end_date": "2025-06-11"}


def test_about_lists_every_setting_and_the_capabilities(run_cli):
    run = run_cli({}, "--about", "--format", "json")
    assert run.returncode == 0
    info = json.loads(run.stdout)
    properties = info["settings"]["properties"]
    assert {
        "metering_points", "refresh_token", "refresh_token_file", "start_date", "end_date",
        "initial_sync_days", "lookback_hours", "resolution", "window_days", "api_url",
        "token_url", "client_id", "scope", "timezone", "correction_days",
        "correction_interval_hours",
    } <= set(properties)  # fmt: skip
    assert properties["correction_days"]["default"] == 7
    assert properties["correction_interval_hours"]["default"] == 24
    assert "default" not in properties["start_date"]  # the tap computes it, per partition
    assert properties["initial_sync_days"]["default"] == 7
    assert properties["refresh_token_file"]["default"] == "refresh_token.txt"
    assert properties["refresh_token"]["secret"] is True
    assert properties["resolution"]["enum"] == ["auto", "PT15MIN", "PT1H"]
    assert {"catalog", "discover", "state", "stream-maps", "about"} <= set(info["capabilities"])


def test_discover_describes_the_streams_with_production_and_prices_unselected(run_cli):
    run = run_cli({"metering_points": ["1234567"]}, "--discover")
    assert run.returncode == 0
    streams = json.loads(run.stdout)["streams"]
    catalog = {entry["tap_stream_id"]: entry for entry in streams}
    assert list(catalog) == [
        "consumption", "production", "costs", "daily_totals", "monthly_bills", "spot_prices",
    ]  # fmt: skip
    for name, entry in catalog.items():
        top = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert top["selected-by-default"] is (name not in ("production", "spot_prices"))
        if name in ("spot_prices", "costs", "monthly_bills"):
            continue  # tests/test_spot_prices.py, tests/test_costs.py
        if name == "daily_totals":
            assert top["table-key-properties"] == ["metering_point", "kind", "day_start"]
            assert top["valid-replication-keys"] == ["day_start"]
            continue
        assert top["table-key-properties"] == ["metering_point", "timestamp"]
        assert top["valid-replication-keys"] == ["timestamp"]
        # null only on a deletion record (docs/design.md, "Records")
        assert entry["schema"]["properties"][f"{name}_kwh"]["type"] == ["number", "null"]
        assert entry["schema"]["properties"][f"{name}_wh"]["type"] == ["number", "null"]
        assert entry["schema"]["properties"]["_sdc_deleted_at"] == {
            "type": ["string", "null"],
            "format": "date-time",
            "description": entry["schema"]["properties"]["_sdc_deleted_at"]["description"],
        }
        assert entry["schema"]["properties"]["timestamp"]["format"] == "date-time"
    daily = catalog["daily_totals"]["schema"]["properties"]
    assert set(daily) == {
        "metering_point", "kind", "date", "day_start", "resolution", "expected_periods",
        "periods", "missing_periods", "kwh", "complete",
    }  # fmt: skip
    assert daily["day_start"]["format"] == "date-time"
    assert daily["complete"]["type"] == ["boolean"]
    assert daily["expected_periods"]["type"] == ["integer"]


def test_stream_maps_reshape_records(tap_config, run_tap):
    maps = {"consumption": {"consumption_wh": None, "cents": "consumption_kwh * 12.5"}}
    run = run_tap(tap_config(stream_maps=maps, **DAY))
    first = run.records()[0]
    assert first["timestamp"] == "2025-06-09T21:00:00+00:00"
    assert "consumption_wh" not in first
    assert first["cents"] == first["consumption_kwh"] * 12.5
    assert len(run.records()) == 96


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        (["1234567"], ("1234567",)),
        (["1234567,7654321"], ("1234567", "7654321")),
        ([" 1234567 , 7654321 ", "5555555"], ("1234567", "7654321", "5555555")),
        ("1234567 7654321", ("1234567", "7654321")),
    ],
)
def test_metering_point_entries_may_hold_several_codes(value, codes):
    assert parse_metering_points(value) == codes


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ([""], "The metering_points setting is empty (got [''])"),
        ([], "The metering_points setting is empty"),
        (["12345-67"], "holds '12345-67', which is not a metering point code"),
        (["1234567,1234567"], "lists 1234567 more than once"),
        ([1234567], "holds 1234567, which is not text"),
    ],
)
def test_bad_metering_point_lists_are_named_in_the_error(value, complaint):
    with pytest.raises(TapWattiVahtiError) as failure:
        parse_metering_points(value)
    assert complaint in str(failure.value)


def test_unset_metering_point_variable_gives_one_paragraph_naming_the_setting(tap_config, run_cli):
    paragraph = run_cli(tap_config(metering_points=[""], **DAY)).error_paragraph()
    assert "metering_points setting is empty" in paragraph
    assert "WATTIVAHTI_METERING_POINT environment variable" in paragraph


def test_unknown_time_zone_is_a_clear_error(tap_config, run_cli):
    paragraph = run_cli(tap_config(timezone="Europe/Helsingfors", **DAY)).error_paragraph()
    assert "The timezone setting 'Europe/Helsingfors' is not a known time zone" in paragraph


def test_bad_start_date_is_a_clear_error(tap_config, run_cli):
    paragraph = run_cli(tap_config(start_date="last tuesday")).error_paragraph()
    assert "The start_date setting 'last tuesday' is not an ISO 8601 date" in paragraph


@pytest.mark.parametrize(
    ("name", "value"), [("correction_days", -1), ("correction_interval_hours", -24)]
)
def test_a_negative_settlement_setting_is_a_clear_error_before_any_output(
    tap_config, run_cli, simulator, name, value
):
    run = run_cli(tap_config(**{name: value}, **DAY))
    paragraph = run.error_paragraph()
    assert f"The {name} setting is {value}: give a whole number of" in paragraph
    assert "0 or more" in paragraph
    assert run.stdout == ""
    assert simulator.requests() == []


def test_no_token_or_authorization_header_appears_in_any_output(tap_config, run_cli, simulator):
    simulator.inject(Fault("503", target="token"))
    simulator.inject(Fault("401"), Fault("429", retry_after=0), "502")
    run = run_cli(tap_config(**DAY), env={"LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr
    assert len(run.records()) == 96
    output = run.stdout + run.stderr
    assert "DEBUG" in run.stderr  # the most talkative level was on
    secrets = [*simulator._refresh_tokens, *simulator._access_tokens]
    assert len(secrets) >= 4  # seed, two rotations, two access tokens
    leaked = [token for token in secrets if token in output]
    assert leaked == []
    assert "Bearer" not in output
    assert "Authorization" not in output


def test_start_date_not_before_end_date_is_a_clear_error(tap_config, run_cli, simulator):
    run = run_cli(tap_config(start_date="2025-06-11", end_date="2025-06-10"))
    paragraph = run.error_paragraph()
    assert (
        "The start_date setting '2025-06-11' is not before the end_date setting '2025-06-10', "
        "so there is nothing to sync (end_date is exclusive)."
    ) in paragraph
    assert simulator.requests() == []


def test_equal_start_and_end_dates_are_refused_too():
    config = {"metering_points": ["1234567"], "start_date": "2025-06-10", "end_date": "2025-06-10"}
    with pytest.raises(TapWattiVahtiError, match="is not before the end_date setting"):
        Settings.from_config(config)


def test_a_closed_output_pipe_is_one_line(tap_config, start_cli, simulator):
    """The program reading the tap (the target) stops after the first message."""
    simulator.inject(Fault("delay", seconds=1.0))  # the records come after the reader is gone
    tap = start_cli(tap_config(**DAY))
    assert tap.process.stdout is not None
    assert json.loads(tap.process.stdout.readline())["type"] == "SCHEMA"
    tap.process.stdout.close()
    run = tap.finish()
    assert run.error_paragraph() == (
        "tap-wattivahti: error: The program reading the tap's output (usually the target) "
        "closed it, so the tap stopped. That program's own messages say why. Nothing after the "
        "last bookmark is lost: the next run repeats from there."
    )
    assert "BrokenPipeError" not in run.stderr
    assert "Exception ignored" not in run.stderr
