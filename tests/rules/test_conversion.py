"""The conversion of values in another currency, as pure functions: which loaded quotes
may prevail on a date under a pack's rule (and its configurable setting), and that a pack
version from before rates were loaded data still converts with its own table, so that its
verdicts replay."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from helpers import declaration
from rules import engine
from rules.catalog import Catalog, load_catalog
from rules.currency import conversion_problems, rate_query
from rules.loader import load_pack, parse_pack
from rules.pack import Pack
from schemas.declaration import Declaration
from schemas.quota import Allocation
from schemas.rates import RateQuote, parse_monthly, parse_valet

PACKS = Path(__file__).parents[2] / "rules" / "packs"


def quote(day: str, rate: str, currency: str = "USD", into: str = "CAD") -> RateQuote:
    return RateQuote(
        currency=currency, into=into, on=date.fromisoformat(day), rate=Decimal(rate), source="t"
    )


WEEK = [quote("2026-03-05", "1.3690"), quote("2026-03-06", "1.3700"), quote("2026-03-09", "1.38")]


def usd(**fields: object) -> Declaration:
    body = declaration("FX-1", currency="USD", accepted_at="2026-03-10T10:00:00-04:00", **fields)
    return Declaration.model_validate(body)


def test_a_saturday_and_a_monday_take_fridays_quote(catalog: Catalog) -> None:
    """Under CA-TAXES (quoted_before, 7 days back) the quote that prevails on Saturday and
    on Monday is Friday's: a day's own quote, published by 16:30 that day, never does."""
    saturday = rate_query(usd(shipment_date="2026-03-07"), catalog.current)
    monday = rate_query(usd(shipment_date="2026-03-09"), catalog.current)
    assert saturday is not None and monday is not None
    assert (saturday.first, saturday.last) == (date(2026, 2, 27), date(2026, 3, 6))
    assert (monday.first, monday.last) == (date(2026, 3, 1), date(2026, 3, 8))
    assert saturday.prevailing(WEEK) == monday.prevailing(WEEK) == WEEK[1]


def test_the_days_own_rate_is_a_setting_of_the_pack(catalog: Catalog) -> None:
    """With `prevailing: quoted_on_or_before` a Monday takes its own quote, not Friday's."""
    text = (PACKS / "ca-taxes.yaml").read_text()
    assert text.count("prevailing: quoted_before") == 1
    edited = parse_pack(
        text.replace("prevailing: quoted_before", "prevailing: quoted_on_or_before").encode(),
        "edited-ca-taxes.yaml",
    )
    query = rate_query(usd(shipment_date="2026-03-09"), [edited])
    assert query is not None and query.last == date(2026, 3, 9)
    assert query.prevailing(WEEK) == WEEK[2]


def test_values_in_the_home_currency_need_no_rate(catalog: Catalog) -> None:
    """A CAD declaration asks the store for nothing."""
    body = declaration("FX-2", accepted_at="2026-03-10T10:00:00-04:00")
    assert rate_query(Declaration.model_validate(body), catalog.current) is None


def test_a_quote_of_another_currency_or_home_never_prevails(catalog: Catalog) -> None:
    """Only quotes of the declaration's currency into its home currency are candidates."""
    query = rate_query(usd(shipment_date="2026-03-06"), catalog.current)
    assert query is not None
    assert query.prevailing([quote("2026-03-06", "1.5", currency="EUR")]) is None
    assert query.prevailing([quote("2026-03-06", "5.2", into="CNY")]) is None


def test_the_pack_version_with_a_table_still_converts_with_it() -> None:
    """CA-TAXES 2026.1 (kept for replay) converts at its own table's rate of the day, as
    its verdicts were decided, whatever rates are loaded."""
    old: Pack = load_pack(PACKS / "ca-taxes@2026.1.yaml")
    assert old.version == "2026.1" and old.body.exchange_rates is not None
    decl = Declaration.model_validate(
        declaration("FX-3", currency="USD", accepted_at="2025-12-01T10:00:00-05:00")
    )
    evaluation = engine.evaluate(decl, [old], {}, rates=[quote("2025-12-01", "9.9")])
    verdict = engine.finalize(evaluation, Allocation(applied=True))
    assert verdict.exchange_rate is not None
    assert (verdict.exchange_rate.rate, verdict.exchange_rate.source) == (Decimal("1.4000"), None)


def test_the_valet_body_gives_one_quote_per_series_and_day() -> None:
    """Each FX<CUR>CAD value of each observation is a quote into CAD, named by its series."""
    quotes = parse_valet(
        {
            "seriesDetail": {"FXUSDCAD": {"label": "USD/CAD"}, "FXEURCAD": "odd"},
            "observations": [{"d": "2026-03-06", "FXUSDCAD": {"v": "1.37"},
                              "FXEURCAD": {"v": "1.50"}}],
        }
    )  # fmt: skip
    assert sorted((q.currency, q.into, str(q.rate), q.source) for q in quotes) == [
        ("EUR", "CAD", "1.50", "Bank of Canada, Valet series FXEURCAD"),
        ("USD", "CAD", "1.37", "Bank of Canada, Valet series FXUSDCAD (USD/CAD)"),
    ]


def test_a_monthly_rate_is_quoted_for_its_months_first_day() -> None:
    """China's monthly customs rates are quotes into CNY on the first day of their month."""
    [found] = parse_monthly(
        {"into": "CNY", "source": "GACC", "rates": [{"month": "2026-03", "currency": "USD",
                                                     "rate": "7.1000"}]}
    )  # fmt: skip
    assert (found.on, found.into, found.rate) == (date(2026, 3, 1), "CNY", Decimal("7.1000"))


def test_the_shipped_conversion_settings_pass_the_startup_check(catalog: Catalog) -> None:
    """The current packs convert into CAD and CNY once each, with no rate table of their own."""
    assert conversion_problems(catalog.current) == []


def test_the_startup_check_names_a_missing_conversion_and_an_old_table(catalog: Catalog) -> None:
    """Without the CN conversion pack, and with the 2026.1 table current, both are named."""
    old = load_pack(PACKS / "ca-taxes@2026.1.yaml")
    packs = [pack for pack in catalog.current if pack.id not in ("CN-CUSTOMS-VALUE", "CA-TAXES")]
    problems = conversion_problems([*packs, old])
    assert any(item.startswith("CA: 0 packs convert values into CAD") for item in problems)
    assert any(item.startswith("CN: 0 packs convert values into CNY") for item in problems)
    assert any("CA-TAXES 2026.1 carries its own exchange-rate table" in item for item in problems)


def test_a_missing_rate_lists_the_date_assumption_only_when_acceptance_dated_it(
    catalog: Catalog,
) -> None:
    """The same missing-rate finding rests on the shipment-date fallback only for the
    declaration that gave no shipment date (findings are memoised: the basis is in the key)."""

    def missing(**fields: object) -> tuple[str, ...]:
        evaluation = engine.evaluate(usd(**fields), catalog.current, {})
        verdict = engine.finalize(evaluation, Allocation(applied=True))
        [found] = [f for f in verdict.findings if f.rule == "ELIG-TAX-EXCHANGE-RATE-MISSING"]
        return found.assumptions

    assert "CONVERSION-DATE-ACCEPTED" not in missing(shipment_date="2026-03-10")
    assert "CONVERSION-DATE-ACCEPTED" in missing()
    assert "CONVERSION-DATE-ACCEPTED" not in missing(shipment_date="2026-03-10")


def test_a_personal_cn_declaration_not_assessed_needs_no_rate() -> None:
    """A personal CN importation of canola in CAD is not assessed (articles' regime): with no
    rate loaded it is decided as with one, accepted with the warning that says so, never
    rejected with no finding that says why."""
    body = declaration(
        "CN-P1", jurisdiction="CN", currency="CAD", import_type="personal",
        importer={"business_number": "91370200MA3C4EXX0A", "name": "Qingdao Oilseeds Co."},
        accepted_at="2026-03-05T10:00:00+08:00",
        lines=[{"tariff_item": "1205.1090.00", "origin": "CA", "description": "Canola",
                "unit": "KGM", "quantity": "20", "value_for_duty": "100.00"}],
    )  # fmt: skip
    packs = load_catalog([PACKS]).current
    decided = {}
    for rates in ((), (quote("2026-03-01", "5.2000", "CAD", "CNY"),)):
        evaluation = engine.evaluate(Declaration.model_validate(body), packs, {}, rates=rates)
        verdict = engine.finalize(evaluation, Allocation(applied=True))
        decided[len(rates)] = (verdict.outcome, [item.rule for item in verdict.findings])
    assert decided[0] == decided[1] == ("accepted", ["DUTY-CN-PERSONAL-NOT-ASSESSED"])
