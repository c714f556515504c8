"""The contract terms as settings: parsing kept exact, the built-in tables, and each bad entry
named in one paragraph before any output."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.settings import Settings
from tap_wattivahti.terms import (
    ELECTRICITY_TAX,
    VAT,
    FixedContract,
    GeneralTariff,
    ProductionContract,
    SeasonalTariff,
    SpotContract,
    TaxRate,
    TimeOfDayContract,
    TimeOfDayTariff,
    VatRate,
    in_force,
    parse_terms,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
SPOT = {"from": "2025-01-01", "type": "spot", "margin_c_per_kwh": 0.49, "monthly_fee_eur": 3.9}
GENERAL = {"from": "2025-01-01", "type": "general", "c_per_kwh": 2.9, "monthly_fee_eur": 7.5}
D = Decimal


def terms(**settings: object):
    return parse_terms(settings, HELSINKI)


def refused(**settings: object) -> str:
    with pytest.raises(TapWattiVahtiError) as failure:
        terms(**settings)
    return str(failure.value)


def test_amounts_are_kept_exactly_as_written_numbers_or_text():
    parsed = terms(
        energy_contracts=[
            {"from": "2025-01-01", "type": "fixed", "price_c_per_kwh": 0.1, "monthly_fee_eur": 0},
            {
                "from": "2025-02-01",
                "type": "time_of_day",
                "day_c_per_kwh": "10.10",
                "night_c_per_kwh": Decimal("6.05"),
                "monthly_fee_eur": 4,
            },
        ],
        network_tariffs=[
            {
                "from": date(2025, 1, 1),
                "type": "seasonal",
                "winter_day_c_per_kwh": "4.00",
                "other_c_per_kwh": 2.5,
                "monthly_fee_eur": " 7.50 ",
                "c_per_kwh": None,
            },
        ],
    )
    assert parsed.energy_contracts == (
        FixedContract(date(2025, 1, 1), price_c_per_kwh=D("0.1"), monthly_fee_eur=D(0)),
        TimeOfDayContract(date(2025, 2, 1), D("10.10"), D("6.05"), D(4)),
    )
    # a YAML date, text with spaces, and a null field that the type does not use are fine
    assert parsed.network_tariffs == (
        SeasonalTariff(date(2025, 1, 1), D("4.00"), D("2.5"), D("7.50")),
    )
    assert str(parsed.energy_contracts[0].price_c_per_kwh) == "0.1"  # not 0.1000000000000000055


def test_every_type_builds_its_own_entry():
    parsed = terms(
        energy_contracts=[SPOT],
        network_tariffs=[
            GENERAL,
            {
                "from": "2025-06-01",
                "type": "time_of_day",
                "day_c_per_kwh": 3.5,
                "night_c_per_kwh": 2,
                "monthly_fee_eur": 9,
            },
        ],
        production_contracts=[{"from": "2025-03-01", "margin_c_per_kwh": -0.1}],
    )
    assert parsed.energy_contracts == (SpotContract(date(2025, 1, 1), D("0.49"), D("3.9")),)
    assert parsed.network_tariffs == (
        GeneralTariff(date(2025, 1, 1), D("2.9"), D("7.5")),
        TimeOfDayTariff(date(2025, 6, 1), D("3.5"), D(2), D(9)),
    )
    # a margin may be negative (a discount on the market price)
    assert parsed.production_contracts == (ProductionContract(date(2025, 3, 1), D("-0.1")),)


def test_unset_or_empty_tax_and_vat_are_the_built_in_tables_and_a_given_one_replaces_them():
    assert terms().electricity_tax == ELECTRICITY_TAX
    assert terms(vat=[], electricity_tax=None).vat == VAT
    own = terms(
        electricity_tax=[{"from": "2010-01-01", "c_per_kwh": "0.703"}],
        vat=[{"from": "2010-07-01", "energy_percent": 23, "network_percent": "23"}],
    )
    assert own.electricity_tax == (TaxRate(date(2010, 1, 1), D("0.703")),)
    assert own.vat == (VatRate(date(2010, 7, 1), D(23), D(23)),)


def test_built_in_tables_hold_the_documented_rates():
    assert [(str(rate.start), str(rate.c_per_kwh)) for rate in ELECTRICITY_TAX] == [
        ("2014-01-01", "1.903"),  # 1.89 + 0.013
        ("2015-01-01", "2.253"),  # 2.24 + 0.013
        ("2026-04-01", "2.325"),  # 2.24 + 0.085
    ]
    assert [(str(r.start), str(r.energy_percent), str(r.network_percent)) for r in VAT] == [
        ("2013-01-01", "24", "24"),
        ("2022-12-01", "10", "24"),
        ("2023-05-01", "24", "24"),
        ("2024-09-01", "25.5", "25.5"),
    ]


def test_an_entry_is_in_force_from_its_date_until_the_next_ones():
    assert in_force(VAT, date(2012, 12, 31)) is None
    assert in_force(VAT, date(2013, 1, 1)) == VAT[0]
    assert in_force(VAT, date(2022, 11, 30)) == VAT[0]
    assert in_force(VAT, date(2022, 12, 1)) == VAT[1]
    assert in_force(VAT, date(2023, 4, 30)) == VAT[1]
    assert in_force(VAT, date(2023, 5, 1)) == VAT[2]
    assert in_force(VAT, date(2024, 8, 31)) == VAT[2]
    assert in_force(VAT, date(2024, 9, 1)) == VAT[3]
    assert in_force(VAT, date(2099, 1, 1)) == VAT[3]


def test_terms_cover_a_day_only_with_both_an_energy_contract_and_a_network_tariff():
    later = {**GENERAL, "from": "2025-02-01"}
    parsed = terms(energy_contracts=[SPOT], network_tariffs=[later])
    assert not parsed.covers("consumption", date(2025, 1, 31))
    assert parsed.covers("consumption", date(2025, 2, 1))
    assert not parsed.covers("production", date(2025, 2, 1))
    assert parsed.configured("consumption")
    assert not parsed.configured("production")
    assert parsed.needs_prices("consumption")
    fixed = {"from": "2025-01-01", "type": "fixed", "price_c_per_kwh": 9, "monthly_fee_eur": 0}
    assert not terms(energy_contracts=[fixed], network_tariffs=[GENERAL]).needs_prices(
        "consumption"
    )


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (
            {"energy_contracts": [{**SPOT, "type": "spott"}]},
            "Entry 1 of the energy_contracts setting (from 2025-01-01) has type 'spott', which "
            "is not one of spot, fixed, time_of_day",
        ),
        (
            {"network_tariffs": [GENERAL, {**GENERAL, "from": "2025-06-01", "type": None}]},
            "Entry 2 of the network_tariffs setting (from 2025-06-01) has type None, which is "
            "not one of general, time_of_day, seasonal",
        ),
        (
            {"energy_contracts": [{"from": "2025-01-01", "type": "spot", "monthly_fee_eur": 1}]},
            "Entry 1 of the energy_contracts setting (from 2025-01-01) lacks margin_c_per_kwh: "
            "a spot contract needs margin_c_per_kwh and monthly_fee_eur",
        ),
        (
            {"energy_contracts": [{**SPOT, "monthly_fee_eur": None}]},
            "lacks monthly_fee_eur: a spot contract needs margin_c_per_kwh and monthly_fee_eur "
            "(VAT excluded; a fee of 0 when there is none)",
        ),
        (
            {"network_tariffs": [{"from": "2025-01-01", "type": "seasonal", "monthly_fee_eur": 1}]},
            "lacks winter_day_c_per_kwh and other_c_per_kwh: a seasonal tariff needs "
            "winter_day_c_per_kwh and other_c_per_kwh and monthly_fee_eur",
        ),
        (
            {"energy_contracts": [{**SPOT, "type": "fixed", "price_c_per_kwh": 9}]},
            "(from 2025-01-01) gives margin_c_per_kwh, which a fixed contract does not use: it "
            "takes price_c_per_kwh and monthly_fee_eur. Remove margin_c_per_kwh, or set the "
            "type that uses it (spot)",
        ),
        (
            {"network_tariffs": [{**GENERAL, "day_c_per_kwh": 3}]},
            "gives day_c_per_kwh, which a general tariff does not use: it takes c_per_kwh and "
            "monthly_fee_eur. Remove day_c_per_kwh, or set the type that uses it (time_of_day)",
        ),
        (
            {"energy_contracts": [{**SPOT, "margin_c_kwh": 0.5}]},
            "Entry 1 of the energy_contracts setting has the field 'margin_c_kwh', which "
            "energy_contracts entries do not have: their fields are from, type, "
            "margin_c_per_kwh, monthly_fee_eur, price_c_per_kwh, day_c_per_kwh, night_c_per_kwh",
        ),
        (
            {"energy_contracts": [SPOT, {**SPOT, "from": "2024-12-01"}]},
            "Entries 1 (from 2025-01-01) and 2 (from 2024-12-01) of the energy_contracts "
            "setting are out of date order: list the entries in ascending order of from",
        ),
        (
            {
                "vat": [
                    VAT_24 := {"from": "2013-01-01", "energy_percent": 24, "network_percent": 24},
                    VAT_24,
                ]
            },
            "Entries 1 and 2 of the vat setting both start on 2013-01-01: each date may have one "
            "entry",
        ),
        (
            {"production_contracts": [{"from": "1.10.2025", "margin_c_per_kwh": 0.3}]},
            "Entry 1 of the production_contracts setting has from '1.10.2025', which is not a "
            "local date YYYY-MM-DD",
        ),
        (
            {"electricity_tax": [{"from": "2025-02-30", "c_per_kwh": 2.253}]},
            "Entry 1 of the electricity_tax setting has from '2025-02-30', which is not a local "
            "date YYYY-MM-DD",
        ),
        (
            {"energy_contracts": [{**SPOT, "from": None}]},
            "Entry 1 of the energy_contracts setting has from None, which is not a local date",
        ),
        (
            {"network_tariffs": [{**GENERAL, "c_per_kwh": "2,90"}]},
            "Entry 1 of the network_tariffs setting (from 2025-01-01) has c_per_kwh '2,90', "
            "which is not a number: give the amount in c/kWh, VAT excluded, as a number such as "
            "2.90 (with a point, not a comma)",
        ),
        (
            {"energy_contracts": [{**SPOT, "monthly_fee_eur": True}]},
            "has monthly_fee_eur True, which is not a number: give the amount in EUR",
        ),
        (
            {"vat": [{"from": "2013-01-01", "energy_percent": "NaN", "network_percent": 24}]},
            "has energy_percent 'NaN', which is not a number: give the amount in percent",
        ),
        (
            {"energy_contracts": [{**SPOT, "monthly_fee_eur": -3.9}]},
            "Entry 1 of the energy_contracts setting (from 2025-01-01) has monthly_fee_eur -3.9, "
            "a negative amount: every amount but a margin is 0 or more",
        ),
        (
            {"network_tariffs": [{**GENERAL, "c_per_kwh": -1}]},
            "has c_per_kwh -1, a negative amount",
        ),
        (
            {"vat": [{"from": "2013-01-01", "energy_percent": 255, "network_percent": 24}]},
            "has energy_percent 255: a VAT rate is a percent from 0 to 100, e.g. 25.5",
        ),
        (
            {"energy_contracts": {"from": "2025-01-01"}},
            "The energy_contracts setting is {'from': '2025-01-01'}, not a list of entries: "
            'give it as a list of objects, e.g. [{"from": "2025-01-01", "type": "spot"',
        ),
        (
            {"production_contracts": ["2025-01-01"]},
            "Entry 1 of the production_contracts setting is '2025-01-01', not an object",
        ),
        (
            {"energy_contracts": [SPOT], "price_source": "none"},
            "Entry 1 of the energy_contracts setting (from 2025-01-01) is a spot contract, but "
            "the price_source setting is none, so there are no market prices to price it with",
        ),
        (
            {
                "production_contracts": [{"from": "2025-01-01", "margin_c_per_kwh": 0.3}],
                "price_source": "none",
            },
            "The production_contracts setting is set (from 2025-01-01), but the price_source "
            "setting is none: production is sold at the market price",
        ),
        (
            {"network_tariffs": [{**GENERAL, "from": "2013-06-01"}]},
            "Entry 1 of the network_tariffs setting starts on 2013-06-01, before the first "
            "electricity_tax entry (2014-01-01), so the electricity_tax of those days is unknown",
        ),
        (
            {"energy_contracts": [{**SPOT, "from": "2012-12-31"}]},
            "Entry 1 of the energy_contracts setting starts on 2012-12-31, before the first vat "
            "entry (2013-01-01)",
        ),
        (
            {
                "energy_contracts": [SPOT],
                "vat": [{"from": "2025-06-01", "energy_percent": 25.5, "network_percent": 25.5}],
            },
            "starts on 2025-01-01, before the first vat entry (2025-06-01), so the vat of those "
            "days is unknown: give the vat setting an entry from 2025-01-01 or earlier",
        ),
    ],
)
def test_bad_terms_are_one_paragraph_naming_the_setting_and_the_entry(settings, complaint):
    message = refused(**settings)
    assert complaint in message
    assert "\n" not in message


def test_a_spot_contract_is_fine_with_either_price_source():
    for source in ("elering", "entsoe", None):
        assert terms(energy_contracts=[SPOT], price_source=source).energy_contracts


def test_the_settings_expose_the_terms_and_refuse_bad_ones():
    settings = Settings.from_config(
        {"metering_points": ["1234567"], "energy_contracts": [SPOT], "network_tariffs": [GENERAL]}
    )
    assert settings.terms.zone == settings.zone
    assert settings.terms.energy_contracts == (SpotContract(date(2025, 1, 1), D("0.49"), D("3.9")),)
    assert Settings.from_config({"metering_points": ["1"]}).terms.energy_contracts == ()
    with pytest.raises(TapWattiVahtiError, match="lacks c_per_kwh"):
        Settings.from_config(
            {"metering_points": ["1"], "network_tariffs": [{**GENERAL, "c_per_kwh": None}]}
        )


def test_bad_terms_stop_the_tap_before_any_output_or_request(tap_config, run_cli, simulator):
    bad = {**SPOT, "from": "2025-10-15", "monthly_fee_eur": -1}
    run = run_cli(tap_config(energy_contracts=[SPOT, bad], start_date="2025-06-10"))
    paragraph = run.error_paragraph()
    assert (
        "Entry 2 of the energy_contracts setting (from 2025-10-15) has monthly_fee_eur -1, a "
        "negative amount" in paragraph
    )
    assert run.stdout == ""
    assert simulator.requests() == []
