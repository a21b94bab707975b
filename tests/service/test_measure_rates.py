"""Rates read as the findings state them: a percentage, or an amount per unit (with its
currency)."""

from __future__ import annotations

from datetime import date

from rules.catalog import load_catalog
from service import views


def test_measures_show_a_per_unit_rate_as_an_amount_per_unit() -> None:
    """The excise on vehicles is an amount per unit, never read as a percentage; ad valorem
    rates stay percentages."""
    listed = views.measures(load_catalog(), date(2026, 3, 10))
    rates = {summary.id: summary.rates for summary in listed.measures}
    assert rates["CA-EXCISE-AC"] == {"excise": "100.00 CAD per NMB"}  # with its currency
    assert rates["CA-CN-EV-TRQ-2026"] == {"mfn": "6.1%"}
    assert rates["CA-GST-IMPORTS"] == {"gst": "5%"}
