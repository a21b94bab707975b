"""Rule packs: the model of one pack file (rules/loader.py loads it strictly).

A pack is one YAML file: an id, a version, its legal sources, its assumptions, its
parameters and its measures (rules/measure.py); each measure has effective dates, a
scope, rates, an optional quota, the facts of the arrangement it implements, and its
rules. The pack's content hash (SHA-256 of the file bytes) identifies the exact rules a
verdict used.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PrivateAttr

from rules.measure import Measure
from rules.values import (
    MEASURE_ID,
    Assumption,
    Effective,
    ImportType,
    IsoDate,
    Parameter,
    Source,
    Strict,
    money_value,
)
from schemas.declaration import Jurisdiction


def _exchange_rate(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('an exchange rate is written as a decimal string, e.g. "1.3979"')
    return money_value(value)


class ExchangeRates(Strict):
    """Dated exchange rates into the jurisdiction's currency (`into`): for each currency,
    the rate of each day it is known for. A day not listed has no rate: the engine never
    carries a rate to another day."""

    into: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    rates: dict[
        Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
        dict[IsoDate, Annotated[Decimal, BeforeValidator(_exchange_rate)]],
    ]
    source: str
    assumption: str | None = None

    def rate_on(self, currency: str, day: date) -> Decimal | None:
        return self.rates.get(currency, {}).get(day)


class NotAssessed(Strict):
    """A charge that may be owed on a line of the pack's measures but that Accord does not
    compute, listed on the verdicts it may concern so that nobody reads the total as the
    whole amount owing. It concerns a verdict whose lines the pack's measures apply to and
    that match its tariff items (prefixes; none: every such line), import types and dates."""

    tax: str
    reference: str
    reason: str
    source: str
    # chapters ("72"), headings or tariff items, matched as prefixes
    tariff_items: tuple[Annotated[str, Field(pattern=r"^\d{2}(\d{2}(\.?\d{2}){0,3})?$")], ...] = ()
    import_types: tuple[ImportType, ...] = ("commercial", "personal")
    effective: Effective | None = None
    _prefixes: tuple[str, ...] = PrivateAttr(default=())

    def model_post_init(self, context: Any) -> None:
        self._prefixes = tuple(item.replace(".", "") for item in self.tariff_items)

    def concerns(
        self, tariff_item: str, import_type: str, day: date, underlying: str | None = None
    ) -> bool:
        """Whether the charge may be owed on a line: by its tariff item, or for a line under
        a Chapter 98 or 99 item, by the classification its goods otherwise have."""
        return (
            import_type in self.import_types
            and (self.effective is None or self.effective.contains(day))
            and (
                not self._prefixes
                or tariff_item.startswith(self._prefixes)
                or (underlying is not None and underlying.startswith(self._prefixes))
            )
        )


class CurrencyConversion(Strict):
    """How values in another currency are converted into the jurisdiction's (`into`). The
    rates themselves are operator data, loaded into the store (schemas/rates.py); the pack
    says which loaded quote prevails on a conversion date, and on what that rests.

    `rates: daily`: the latest quote on or before the conversion date
    (`prevailing: quoted_on_or_before`), or strictly before it (`quoted_before`), no
    older than `max_days_back` days before that; `rates: monthly`: the quote of the
    conversion date's month. The conversion date is the date of direct shipment when
    `conversion_date: shipment_date` and the declaration gives one, else the date of
    acceptance (`date_assumption` then says why that may serve)."""

    into: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    rates: Literal["daily", "monthly"]
    conversion_date: Literal["shipment_date", "accepted_at"]
    prevailing: Literal["quoted_on_or_before", "quoted_before"] = "quoted_on_or_before"
    max_days_back: Annotated[int, Field(ge=0, le=31)] = 0
    source: str  # the law that says how values are converted
    rates_source: str  # who publishes the rates the operator loads
    assumption: str | None = None  # on which `prevailing` and `max_days_back` rest
    date_assumption: str | None = None  # on which acceptance as conversion date rests


class PackBody(Strict):
    pack: Annotated[str, Field(pattern=MEASURE_ID)]
    version: str
    title: str
    # whose customs the pack's measures are applied by: it applies to declarations made there
    jurisdiction: Jurisdiction
    sources: dict[str, Source]
    assumptions: dict[str, Assumption] = Field(default_factory=dict)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    # pack versions before rates were operator data carried a table of their own; they
    # still load, so that their verdicts replay
    exchange_rates: ExchangeRates | None = None
    currency_conversion: CurrencyConversion | None = None
    measures: tuple[Measure, ...]
    # what the pack's measures leave unassessed (SPEC §4.1, "the amount owing")
    not_assessed: tuple[NotAssessed, ...] = ()

    def model_post_init(self, context: Any) -> None:
        # a measure reads its parameter rates through the pack's parameters
        for measure in self.measures:
            measure.read_parameters(self.parameters)


class Pack:
    """A loaded pack: its body, where it came from, its text and the text's hash (a pack
    changed by `accord simulate`'s overrides has no file, only its text)."""

    def __init__(self, body: PackBody, path: str, text: bytes) -> None:
        self.body = body
        self.path = path
        self.text = text
        self.sha256 = hashlib.sha256(text).hexdigest()

    @property
    def id(self) -> str:
        return self.body.pack

    @property
    def version(self) -> str:
        return self.body.version

    @property
    def measures(self) -> tuple[Measure, ...]:
        return self.body.measures

    def __repr__(self) -> str:
        return f"Pack({self.id}@{self.version} {self.sha256[:12]})"


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple(
        (int(part), "") if part.isdecimal() else (0, part) for part in re.split(r"[.-]", version)
    )


def current_packs(packs: Iterable[Pack]) -> list[Pack]:
    """The highest version of each pack id; older versions stay available for replay."""
    best: dict[str, Pack] = {}
    for pack in packs:
        held = best.get(pack.id)
        if held is None or _version_key(pack.version) > _version_key(held.version):
            best[pack.id] = pack
    return sorted(best.values(), key=lambda pack: pack.id)
