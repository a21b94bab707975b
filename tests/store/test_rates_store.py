"""The exchange rates in Redis (store/rates.py): a load keeps every quote under its home
currency, currency and day; a later load of a day with another value replaces it and
keeps the value replaced; a window read answers the days held, in day order."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from schemas.rates import RateQuote
from store import RedisStore


def quote(day: str, rate: str, currency: str = "USD", into: str = "CAD") -> RateQuote:
    return RateQuote(
        currency=currency, into=into, on=date.fromisoformat(day), rate=Decimal(rate),
        source=f"FX{currency}{into}",
    )  # fmt: skip


def test_a_window_read_answers_the_days_held_in_order(store: RedisStore) -> None:
    """Quotes of the window's days come back in day order, stamped with the load; other
    currencies and home currencies are apart."""
    loaded = store.load_rates(
        [quote("2026-03-06", "1.37"), quote("2026-03-04", "1.365"), quote("2026-03-06", "1.5", "EUR"),
         quote("2026-03-01", "5.2", "USD", "CNY")],
        "admin token:0", "2026-03-07T00:00:00Z",
    )  # fmt: skip
    assert loaded == (4, 0, 0)
    found = store.rates_between("CAD", "USD", date(2026, 3, 1), date(2026, 3, 7))
    assert [(q.on.isoformat(), str(q.rate), q.loaded_by) for q in found] == [
        ("2026-03-04", "1.365", "admin token:0"),
        ("2026-03-06", "1.37", "admin token:0"),
    ]
    assert store.rates_between("CAD", "USD", date(2026, 3, 5), date(2026, 3, 5)) == []
    assert [q.rate for q in store.rates_between("CNY", "USD", date(2026, 3, 1), date(2026, 3, 1))
            ] == [Decimal("5.2")]  # fmt: skip


def test_a_replaced_quote_is_kept_with_who_replaced_it(store: RedisStore) -> None:
    """Another value for a held day replaces it, and the replaced value stays readable;
    the same value again changes nothing."""
    store.load_rates([quote("2026-03-06", "1.3700")], "admin token:0", "t1")
    assert store.load_rates([quote("2026-03-06", "1.3711")], "admin token:1", "t2") == (0, 1, 0)
    assert store.load_rates([quote("2026-03-06", "1.3711")], "admin token:1", "t3") == (0, 0, 1)
    [held] = store.rates_between("CAD", "USD", date(2026, 3, 6), date(2026, 3, 6))
    assert (held.rate, held.loaded_at) == (Decimal("1.3711"), "t2")
    [replaced] = store.rate_replacements("CAD", "USD", date(2026, 3, 6))
    assert (replaced.previous.rate, replaced.previous.loaded_at) == (Decimal("1.3700"), "t1")
    assert (replaced.replaced_by, replaced.replaced_at) == ("admin token:1", "t2")
    assert store.rate_replacements("CAD", "USD", date(2026, 3, 5)) == []
