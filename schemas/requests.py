"""Request bodies of the API besides the declaration and the permit application (which
have their own modules): a pro-rata run, an importer allocation or transfer, a replay
and a batch. Strict, like every contract here: an unknown key is an error that names it."""

from __future__ import annotations

from datetime import date as date_type
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.identifiers import BN15

MAX_BATCH = 1000  # declarations in one batch


class AllocationRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: date_type = Field(description="the acceptance day whose requests are allocated")


class ImporterAllocation(BaseModel):
    """An importer's initial allocation for a quota year, or a transfer to another importer."""

    model_config = ConfigDict(extra="forbid")
    quota_year: int = Field(ge=1, le=100)
    business_number: str = Field(pattern=BN15)
    initial: int | None = Field(default=None, ge=0)
    transfer_to: str | None = Field(default=None, pattern=BN15)
    quantity: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_operation(self) -> ImporterAllocation:
        if (self.initial is None) == (self.transfer_to is None or self.quantity is None):
            raise ValueError("give either `initial`, or `transfer_to` and `quantity`")
        return self


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    declaration_id: str = Field(min_length=1, max_length=64)
    pack_version: str | None = Field(
        default=None,
        description='a version ("2026.2"), or one pack\'s ("CA-CN-SURTAX-2024@2026.2")',
    )


class Batch(BaseModel):
    """Up to MAX_BATCH declarations, each validated on its own: one bad declaration is
    an answer at its index, not a refusal of the batch."""

    model_config = ConfigDict(extra="forbid")
    declarations: list[Any] = Field(max_length=MAX_BATCH)
