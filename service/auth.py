"""Bearer tokens and roles (SPEC §7), read from ACCORD_TOKENS_FILE.

    tokens:
      - {token: "<secret>", role: admin}
      - {token: "<secret>", role: auditor}
      - {token: "<secret>", role: submitter, business_number: "123456789RM0001"}

Tokens are compared in constant time, against every known token, so that neither the
match nor its position leaks through timing.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.permit import BN15

Role = Literal["admin", "auditor", "submitter"]


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = Field(min_length=16)
    role: Role
    business_number: str | None = Field(default=None, pattern=BN15)

    @model_validator(mode="after")
    def _submitter_has_importer(self) -> TokenEntry:
        if (self.role == "submitter") != (self.business_number is not None):
            raise ValueError(
                "a submitter token, and only a submitter token, names a business_number"
            )
        return self


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: tuple[TokenEntry, ...]


@dataclass(frozen=True)
class Principal:
    role: Role
    business_number: str | None = None
    # which token of the book it presented (its position), for limits per caller
    token_key: str = field(default="", compare=False)

    def sees(self, business_number: str) -> bool:
        return self.role != "submitter" or self.business_number == business_number


class TokenBook:
    def __init__(self, entries: tuple[TokenEntry, ...]) -> None:
        self.entries = entries

    @classmethod
    def load(cls, path: Path) -> TokenBook:
        data = yaml.safe_load(path.read_text())
        return cls(TokensFile.model_validate(data).tokens)

    def principal(self, presented: str) -> Principal | None:
        found: Principal | None = None
        for position, entry in enumerate(self.entries):
            if hmac.compare_digest(entry.token.encode(), presented.encode()):
                found = Principal(entry.role, entry.business_number, f"token:{position}")
        return found


def write_admin_tokens(path: Path) -> str:
    """A tokens file with one fresh admin token, readable by its owner only."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"tokens": [{"token": token, "role": "admin"}]}))
    path.chmod(0o600)
    return token
