"""Import permits (special authority [26]): the application and the permit as the
ledger holds it (SPEC §5). For a quota drawn at permit issuance, issuing a permit draws
its units; at the border a declaration uses it."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from schemas.identifiers import BN15

# reachable in a URL path segment: no '/' (and not '.' or '..', refused by the model)
PERMIT_NUMBER = r"^[A-Za-z0-9._-]{1,64}$"

# the numbers the service assigns: no client may choose one (workers/permits.py)
SERVICE_PERMIT_PREFIX = "ACCORD-"
# Crockford's base 32: no I, L, O or U to misread
_READABLE = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day_only(value: object) -> object:
    """A date is a JSON string YYYY-MM-DD and nothing else: not a datetime, not a number."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("must be a date YYYY-MM-DD (no time, no number)")
    return value


Day = Annotated[date, BeforeValidator(_day_only)]


def is_service_number(number: str) -> bool:
    """Whether a number is of the service's namespace, which a client may not choose."""
    return number.upper().startswith(SERVICE_PERMIT_PREFIX)


def new_permit_number(year: int) -> str:
    """A number of the service's namespace: ACCORD-2-7K3MQ-X9PVA, its year then 50 random
    bits in two groups of five readable characters."""
    draw = "".join(secrets.choice(_READABLE) for _ in range(10))
    return f"{SERVICE_PERMIT_PREFIX}{year}-{draw[:5]}-{draw[5:]}"


PermitStatus = Literal["issued", "pending_allocation", "used", "cancelled", "expired", "refused"]


class PermitApplication(BaseModel):
    """An application for a permit. `permit_number` is assigned when absent; `issued_on`
    defaults to today and is never in the future; `expires_on` defaults to the pack's
    validity counted from `issued_on`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    permit_number: Annotated[str | None, Field(pattern=PERMIT_NUMBER)] = None
    business_number: Annotated[str, Field(pattern=BN15)]
    measure: Annotated[str, Field(min_length=1, max_length=64)]
    # a whole number of units, never true, "1" or 1.0 (the quota bounds it: workers/permits.py)
    quantity: Annotated[int, Field(gt=0, le=1_000_000, strict=True)]
    issued_on: Day | None = None
    expires_on: Day | None = None
    sub_quota: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    reason: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=500,
            description="why an administrator records a permit issued on an earlier day "
            "(kept in the quota's events); an importer's application gives none",
        ),
    ] = None

    @field_validator("permit_number")
    @classmethod
    def _reachable(cls, value: str | None) -> str | None:
        if value in (".", ".."):
            raise ValueError("a permit number cannot be '.' or '..' (it names no URL path)")
        return value

    @model_validator(mode="after")
    def _dates(self) -> Self:
        for name, day in (("issued_on", self.issued_on), ("expires_on", self.expires_on)):
            if day is not None and not 1990 <= day.year <= 2200:
                raise ValueError(f"{name} must be between 1990 and 2200")
        return self

    def terms(self, number: str, today: date, validity_days: int) -> PermitTerms:
        """The permit applied for, with its number and dates settled. Validity counts the
        day of issue: 60 days from 1 March run to 29 April."""
        issued_on = self.issued_on or today
        expires_on = self.expires_on or issued_on + timedelta(days=validity_days - 1)
        return PermitTerms(
            permit_number=number,
            business_number=self.business_number,
            measure=self.measure,
            quantity=self.quantity,
            issued_on=issued_on,
            expires_on=expires_on,
            sub_quota=self.sub_quota,
            reason=self.reason,
        )


class PermitTerms(BaseModel):
    """What a permit was applied for: the registration the ledger keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    permit_number: str
    business_number: str
    measure: str
    quantity: int
    issued_on: date
    expires_on: date
    sub_quota: str | None = None
    reason: str | None = None  # why it was recorded as issued on an earlier day


class Permit(PermitTerms):
    """A permit as the ledger holds it. `held` is what it covers now (its drawn units,
    or the units a declaration used); `reserve` of them came from the sub-quota's reserve."""

    status: PermitStatus
    held: int = 0
    reserve: int = 0
    period: str | None = None  # the period its units were drawn from
    used: int = 0
    used_by: str | None = None
    returned: int = 0
    lapsed: int = 0

    @property
    def remaining(self) -> int:
        """Units a declaration may still use it for."""
        return self.held if self.status == "issued" else 0
