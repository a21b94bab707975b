"""Import permits (special authority [26]) registered by a quota administrator."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

PERMIT_NUMBER = r"^[A-Za-z0-9._/-]{1,64}$"
BN15 = r"^\d{9}[A-Z]{2}\d{4}$"


class PermitIn(BaseModel):
    """A permit as an administrator registers it; `expires_on` defaults to 60 days on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    permit_number: Annotated[str, Field(pattern=PERMIT_NUMBER)]
    business_number: Annotated[str, Field(pattern=BN15)]
    measure: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]
    issued_on: date
    expires_on: date | None = None

    @model_validator(mode="after")
    def _expiry(self) -> Self:
        for name, day in (("issued_on", self.issued_on), ("expires_on", self.expires_on)):
            if day is not None and not 1990 <= day.year <= 2200:
                raise ValueError(f"{name} must be between 1990 and 2200")
        if self.expires_on is not None and self.expires_on < self.issued_on:
            raise ValueError("expires_on must not be before issued_on")
        return self

    def with_default_expiry(self, validity_days: int = 60) -> Permit:
        expires_on = self.expires_on or self.issued_on + timedelta(days=validity_days)
        return Permit(**{**self.model_dump(), "expires_on": expires_on})


class Permit(BaseModel):
    """A registered permit with its consumption."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    permit_number: str
    business_number: str
    measure: str
    quantity: int
    issued_on: date
    expires_on: date
    used: int = 0

    @property
    def remaining(self) -> int:
        return self.quantity - self.used
