"""Bearer tokens and roles (SPEC §7), read from ACCORD_TOKENS_FILE.

    tokens:
      - {token: "<secret>", role: admin}
      - {token: "<secret>", role: auditor}
      - {token: "<secret>", role: submitter, business_number: "123456789RM0001"}

A token is found by its SHA-256 in one dictionary probe, however many tokens the book
holds: what a lookup's timing could reveal is about a digest, not about a token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.identifiers import BN15

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
    """The tokens, looked up by their SHA-256: one dictionary probe per request however
    many tokens there are, and what a lookup's timing could reveal is about a digest,
    not about a token."""

    def __init__(self, entries: tuple[TokenEntry, ...]) -> None:
        self.entries = entries
        self._by_digest = {
            _digest(entry.token): Principal(entry.role, entry.business_number, f"token:{position}")
            for position, entry in enumerate(entries)
        }

    @classmethod
    def load(cls, path: Path) -> TokenBook:
        data = yaml.safe_load(path.read_text())
        return cls(TokensFile.model_validate(data).tokens)

    def principal(self, presented: str) -> Principal | None:
        return self._by_digest.get(_digest(presented))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def write_admin_tokens(path: Path) -> str:
    """A tokens file with one fresh admin token, readable by its owner only."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"tokens": [{"token": token, "role": "admin"}]}))
    path.chmod(0o600)
    return token
