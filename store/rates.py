"""Exchange rates, as the operator loads them (SPEC §3, §7): the quote of each day, per
currency and home currency, and every quote a later load replaced.

Keys, under the store's prefix (one hash tag, so that a load touches one slot):
    rates:{fx}:{INTO}:{CUR}            hash: day (YYYY-MM-DD) -> the quote's JSON
    rates:{fx}:{INTO}:{CUR}:replaced   list of {on, replaced_at, replaced_by, previous}

A load is one script (lua/load_rates.lua): all of its quotes or none. Reads take the
days of a window in one HMGET; the rules decide which quote of the window prevails
(rules/currency.py), so the store knows nothing of business days.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Protocol

from redis.commands.core import Script

from schemas.rates import RateQuote, RateReplaced
from store.errors import translated
from store.keyspace import Keyspace, decoded, lua_source

MAX_WINDOW_DAYS = 62  # the widest window a read may ask for


class ExchangeRates(Protocol):
    """What loading rates and reading them for a declaration use of a store."""

    def load_rates(
        self, quotes: Sequence[RateQuote], loaded_by: str, loaded_at: str
    ) -> tuple[int, int, int]:
        """Keep the quotes, all or none; (loaded, replaced, unchanged)."""
        ...

    def rates_between(self, into: str, currency: str, first: date, last: date) -> list[RateQuote]:
        """The quotes held for the days from `first` to `last`, in day order."""
        ...

    def rate_replacements(self, into: str, currency: str, day: date) -> list[RateReplaced]:
        """The earlier values of one day's quote, oldest first."""
        ...


class RedisExchangeRates(Keyspace):
    """Exchange rates in Redis."""

    @functools.cached_property
    def _load_rates(self) -> Script:
        return self.client.register_script(lua_source("load_rates"))

    def _rates_key(self, into: str, currency: str) -> str:
        return self.key("rates", "{fx}", into, currency)

    @translated
    def load_rates(
        self, quotes: Sequence[RateQuote], loaded_by: str, loaded_at: str
    ) -> tuple[int, int, int]:
        groups: dict[tuple[str, str], list[list[str]]] = {}
        for quote in sorted(quotes, key=lambda item: (item.into, item.currency, item.on)):
            stamped = quote.model_copy(update={"loaded_at": loaded_at, "loaded_by": loaded_by})
            groups.setdefault((quote.into, quote.currency), []).append(
                [
                    quote.on.isoformat(),
                    format(quote.rate, "f"),
                    quote.source,
                    stamped.model_dump_json(),
                ]
            )
        keys: list[str] = []
        for into, currency in groups:
            keys += [self._rates_key(into, currency), self._rates_key(into, currency) + ":replaced"]
        answer = self._load_rates(keys=keys, args=[json.dumps(list(groups.values())), loaded_at,
                                                   loaded_by])  # fmt: skip
        loaded, replaced, unchanged = (int(item) for item in answer)
        return loaded, replaced, unchanged

    @translated
    def rates_between(self, into: str, currency: str, first: date, last: date) -> list[RateQuote]:
        span = (last - first).days
        if span < 0:
            return []
        if span > MAX_WINDOW_DAYS:
            raise ValueError(f"a window of rates spans at most {MAX_WINDOW_DAYS} days")
        days = [(first + timedelta(days=offset)).isoformat() for offset in range(span + 1)]
        held = self.client.hmget(self._rates_key(into, currency), days)
        return [
            RateQuote.model_validate_json(text)
            for value in held
            if (text := decoded(value)) is not None
        ]

    @translated
    def rate_replacements(self, into: str, currency: str, day: date) -> list[RateReplaced]:
        texts = self.client.lrange(self._rates_key(into, currency) + ":replaced", 0, -1)
        found: list[RateReplaced] = []
        for value in texts:
            record = json.loads(decoded(value) or "{}")
            if record.get("on") == day.isoformat():
                found.append(
                    RateReplaced(
                        previous=RateQuote.model_validate(record["previous"]),
                        replaced_at=record["replaced_at"],
                        replaced_by=record["replaced_by"],
                    )
                )
        return found


# mypy holds the implementation to the Protocol here, whichever methods callers use
_IMPLEMENTS: type[ExchangeRates] = RedisExchangeRates
