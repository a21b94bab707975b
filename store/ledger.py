"""The quota ledger in Redis: permits, draws, returns, pro-rata runs, importer accounts
and the read model, each one Lua script that starts with the calling convention's
prelude (`store/lua/roles.lua`) and the ledger's (`store/lua/ledger.lua`). The ledger's
prelude holds the ledger's arithmetic; this module only
names keys, passes payloads and types the answers.

Keys carry their quota's hash tag, `{prefix}:{QUOTA}:...`, and every script is given
each key it touches in KEYS, with its role (ARGV[1]) so the prelude can find it:
    {QUOTA}:period:START          a period's stored counts (allocated, returned, ...)
    {QUOTA}:events:YEAR           the quota year's events, append-only (+ events_on:YEAR,
                                  their positions by ledger date, and events_days:YEAR,
                                  the ledger date of each position)
    {QUOTA}:daily:YEAR            what each period's counts changed on each ledger date
                                  (+ days:YEAR, those changes by date), for reads as of a day,
                                  and raised:YEAR, the days with a change that raised
                                  what is free, for draws dated before them
    {QUOTA}:permit:NUMBER         a permit;  {QUOTA}:expiring  issued permits by expiry
    {QUOTA}:vins                  VIN -> declaration that counted it
    {QUOTA}:acct:YEAR:BN          an importer's allocation account (+ accts, accts_total)
    {QUOTA}:prorata:DAY           a day's pro-rata requests (+ prorata_days, prorata_req,
                                  prorata_grant, seq)
The declaration's own records (`alloc:{id}`, its idempotency record and tombstone,
`allocreq:{id}`, and `decl:{id}`) are declared too; they are not tagged, so a Redis
Cluster would refuse a declaration whose lines span quotas: Accord runs on one primary
(standalone or Sentinel), where the tags cost nothing and keep each quota's keys together.

`QuotaLedger` is what callers use of the ledger, `Permits` its permits part; a store
reaches its ledger as `store.ledger`, so a caller that uses nothing else of the store
types it `HoldsLedger` (or `HoldsPermits`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Protocol

import orjson
import redis

from schemas.ledger import LedgerYear
from schemas.permit import Permit, PermitTerms, new_permit_number
from schemas.quota import Allocation, QuotaRequest, QuotaTerms
from store.errors import StoreError, translated

MAX_EVENTS_PAGE = 1000


@cache
def _script_text(name: str) -> str:
    lua = resources.files("store").joinpath("lua")
    return "\n".join(lua.joinpath(f"{part}.lua").read_text() for part in ("roles", "ledger", name))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class PermitDecision:
    """The ledger's answer to a permit application."""

    outcome: str  # issued | pending_allocation | refused | existing | conflict
    permit: Permit | None
    remaining: int | None = None


@dataclass(frozen=True)
class RunResult:
    declarations: list[str]
    permits: list[dict[str, Any]]
    requested: int


class Permits(Protocol):
    """What callers use of the permits part of the ledger: issue, end and read permits."""

    def next_permit_number(self, quota_id: str, year: int) -> str: ...

    def apply_permit(self, terms: QuotaTerms, permit: PermitTerms, now: str) -> PermitDecision:
        """Issue a permit, register it for its day's pro-rata run, or refuse it."""
        ...

    def end_permit(
        self, terms_of_year: Callable[[int], QuotaTerms], quota_id: str, number: str,
        day: date, status: str, now: str,
    ) -> dict[str, Any]:  # fmt: skip
        """Cancel or expire an unused permit; its units return."""
        ...

    def expire(
        self,
        terms_of_year: Callable[[int], QuotaTerms],
        quota_id: str,
        today: date,
        now: str,
        grace_days: int = 0,
    ) -> list[str]:
        """End every permit of a quota that is unused `grace_days` after its last valid day."""
        ...

    def permit(self, quota_id: str, number: str) -> Permit | None: ...

    def permits(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Permit]: ...


class QuotaLedger(Permits, Protocol):
    """What callers use of the whole ledger: its permits, declarations' allocations and
    their return, pro-rata runs, importer accounts, and the read model."""

    def allocate(
        self,
        declaration_id: str,
        requests: Sequence[QuotaRequest],
        on: date,
        now: str,
        business_number: str = "",
    ) -> Allocation:
        """Apply a declaration's quota requests, all or none."""
        ...

    def allocation(self, declaration_id: str) -> Allocation | None: ...

    def give_back(self, declaration_id: str, day: date, now: str) -> list[dict[str, Any]]:
        """Return what a cancelled (or failed) declaration holds."""
        ...

    def run(self, terms: QuotaTerms, day: date, now: str) -> RunResult:
        """The pro-rata run of one quota for one day."""
        ...

    def pro_rata_days(self, quota_id: str) -> list[date]: ...

    def account(
        self, terms: QuotaTerms, operation: str, business_number: str, quantity: int,
        to_business_number: str = "", year_volume: int = 0, now: str = "",
    ) -> str | None:  # fmt: skip
        """Set an importer's initial allocation or transfer units; None, or why refused."""
        ...

    def account_holders(self, quota_id: str, year: int) -> list[str]: ...

    def view(
        self,
        terms: QuotaTerms,
        as_of: date,
        cursor: int = 0,
        limit: int = 100,
        accounts: Sequence[str] = (),
        latest: bool = False,
        today: date | None = None,
    ) -> LedgerYear:
        """The quota year on `as_of`, with one page of its events and the accounts named;
        as of the caller's `today` or later, everything written counts."""
        ...


class HoldsPermits(Protocol):
    """A store of which a caller uses the permits only (`store.ledger`)."""

    @property
    def ledger(self) -> Permits: ...


class HoldsLedger(Protocol):
    """A store of which a caller uses the quota ledger only (`store.ledger`)."""

    @property
    def ledger(self) -> QuotaLedger: ...


class Ledger:
    """The ledger's scripts and reads, on one Redis client and key prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._scripts = {
            name: client.register_script(_script_text(name))
            for name in (
                "allocate", "give_back", "apply_permit", "end_permit", "run", "account", "view",
            )
        }  # fmt: skip

    # --- keys --------------------------------------------------------------------------

    def key(self, role: str, declaration_id: str = "") -> str:
        """The Redis key of a script role: 'Q|period|2026-03-01' -> prefix:{Q}:period:...;
        'alloc', 'allocreq' and 'decl' belong to the declaration."""
        if "|" not in role:
            return f"{self.prefix}:{role}:{declaration_id}"
        quota_id, *rest = role.split("|")
        return f"{self.prefix}:{{{quota_id}}}:" + ":".join(rest)

    @staticmethod
    def year_roles(terms: QuotaTerms) -> list[str]:
        return [
            *(f"{terms.id}|period|{period.key}" for period in terms.periods),
            f"{terms.id}|events|{terms.year}",
            f"{terms.id}|events_on|{terms.year}",
            f"{terms.id}|events_days|{terms.year}",
            f"{terms.id}|daily|{terms.year}",
            f"{terms.id}|days|{terms.year}",
            f"{terms.id}|raised|{terms.year}",
        ]

    def _call(
        self,
        name: str,
        roles: Iterable[str],
        payload: dict[str, Any],
        now: str,
        declaration_id: str = "",
        client: Any = None,
    ) -> Any:
        unique = list(dict.fromkeys(roles))
        keys = [self.key(role, declaration_id) for role in unique]
        return self._scripts[name](
            keys=keys, args=[json.dumps(unique), orjson.dumps(payload), now], client=client
        )

    # --- declarations ------------------------------------------------------------------

    @translated
    def allocate(
        self,
        declaration_id: str,
        requests: Sequence[QuotaRequest],
        on: date,
        now: str,
        business_number: str = "",
    ) -> Allocation:
        """Apply a declaration's quota requests, all or none (see allocate.lua); `on` is
        its acceptance date, `business_number` its importer (named in the events)."""
        roles = ["alloc", "allocreq", "decl"]
        for request in requests:
            terms = request.quota
            roles += self.year_roles(terms)
            roles += [f"{terms.id}|vins", f"{terms.id}|expiring"]
            if request.permit_number:
                roles.append(f"{terms.id}|permit|{request.permit_number}")
            if request.account:
                roles.append(f"{terms.id}|acct|{terms.year}|{request.account}")
            roles += self._pro_rata_roles(terms, declaration_id, on)
        payload = {
            "declaration_id": declaration_id,
            "business_number": business_number or None,
            "on": on.isoformat(),
            "requests": [request.model_dump(mode="json") for request in requests],
        }
        return allocation_of(self._call("allocate", roles, payload, now, declaration_id))

    @staticmethod
    def _pro_rata_roles(terms: QuotaTerms, declaration_id: str, on: date) -> list[str]:
        if terms.mode != "daily_pro_rata":
            return []
        return [
            f"{terms.id}|prorata|{on.isoformat()}",
            f"{terms.id}|prorata_days",
            f"{terms.id}|prorata_req|{declaration_id}",
            f"{terms.id}|prorata_grant|{declaration_id}",
        ]

    @translated
    def allocation(self, declaration_id: str) -> Allocation | None:
        raw = self.client.get(self.key("alloc", declaration_id))
        return None if raw is None else allocation_of(raw)

    @translated
    def give_back(self, declaration_id: str, day: date, now: str) -> list[dict[str, Any]]:
        """Return what a cancelled (or failed) declaration holds; see give_back.lua."""
        raw = self.client.get(self.key("allocreq", declaration_id))
        stored: dict[str, Any] = json.loads(raw) if raw else {"requests": [], "on": day.isoformat()}
        roles = ["alloc", "allocreq"]
        on = date.fromisoformat(str(stored["on"]))
        for request in stored["requests"]:
            terms = QuotaTerms.model_validate(request["quota"])
            roles += self.year_roles(terms)
            roles += [f"{terms.id}|vins", f"{terms.id}|expiring"]
            if request.get("permit_number"):
                roles.append(f"{terms.id}|permit|{request['permit_number']}")
            if request.get("account"):
                roles.append(f"{terms.id}|acct|{terms.year}|{request['account']}")
            roles += self._pro_rata_roles(terms, declaration_id, on)
        payload = {
            "declaration_id": declaration_id,
            "day": day.isoformat(),
            "requests_read": _text(raw) if raw else "",
        }
        returned = json.loads(self._call("give_back", roles, payload, now, declaration_id))
        if returned.get("retry"):  # a worker stored its requests meanwhile: declare them
            return self.give_back(declaration_id, day, now)
        items = returned["returned"]
        return items if isinstance(items, list) else []

    # --- permits -----------------------------------------------------------------------

    @translated
    def apply_permit(self, terms: QuotaTerms, permit: PermitTerms, now: str) -> PermitDecision:
        """Issue a permit by drawing its units, register it for its day's pro-rata run,
        or refuse it with nothing drawn (see apply_permit.lua)."""
        roles = [
            *self.year_roles(terms),
            f"{terms.id}|permit|{permit.permit_number}",
            f"{terms.id}|expiring",
            f"{terms.id}|seq",
            f"{terms.id}|prorata|{permit.issued_on.isoformat()}",
            f"{terms.id}|prorata_days",
            f"{terms.id}|acct|{terms.year}|{permit.business_number}",
        ]
        registration = permit.model_dump_json()
        payload = {
            "quota": terms.model_dump(mode="json"),
            "permit": permit.model_dump(mode="json"),
            "registration": registration,
        }
        answer = json.loads(self._call("apply_permit", roles, payload, now))
        outcome = str(answer["outcome"])
        flat = answer.get("permit")
        pairs = flat if isinstance(flat, list) else []
        found = permit_of(dict(zip(pairs[::2], pairs[1::2], strict=True)))
        if outcome == "existing" and (found is None or found.status == "refused"):
            outcome = "refused"
        remaining = answer.get("remaining")
        return PermitDecision(outcome, found, int(remaining) if remaining is not None else None)

    @translated
    def end_permit(
        self, terms_of_year: Callable[[int], QuotaTerms], quota_id: str, number: str,
        day: date, status: str, now: str,
    ) -> dict[str, Any]:  # fmt: skip
        """Cancel or expire an unused permit; its units return (see end_permit.lua)."""
        raw = self.client.hgetall(self.key(f"{quota_id}|permit|{number}"))
        found = permit_of(raw)
        if found is None:
            raise StoreError(f"permit {number} does not exist")
        year = int(_text(raw.get(b"year") or raw.get("year") or 1))
        terms = terms_of_year(year)
        roles = [
            *self.year_roles(terms),
            f"{quota_id}|permit|{number}",
            f"{quota_id}|expiring",
            f"{quota_id}|prorata|{found.issued_on.isoformat()}",
            f"{quota_id}|acct|{terms.year}|{found.business_number}",
        ]
        payload = {
            "quota": terms.model_dump(mode="json"),
            "permit_number": number,
            "day": day.isoformat(),
            "status": status,
        }
        return dict(json.loads(self._call("end_permit", roles, payload, now)))

    @translated
    def next_permit_number(self, quota_id: str, year: int) -> str:
        """A new permit number of a quota, for an application that names none: in the
        service's namespace, which no client may write (schemas/permit.py), and random, so
        that no number tells how many came before or which comes next."""
        return new_permit_number(year)

    def expiring(self, quota_id: str, before: date) -> list[str]:
        """Issued, unused permits whose validity ended before `before`."""
        score = int(before.strftime("%Y%m%d")) - 1
        raw = self.client.zrangebyscore(self.key(f"{quota_id}|expiring"), "-inf", score)
        return [_text(item) for item in raw]

    @translated
    def expire(
        self,
        terms_of_year: Callable[[int], QuotaTerms],
        quota_id: str,
        today: date,
        now: str,
        grace_days: int = 0,
    ) -> list[str]:
        """End every permit of a quota that is unused `grace_days` after its last valid
        day, as of `today`; its units return on `today`, the day the expiry is processed
        (SPEC §5), whatever its dates say."""
        ended = []
        for number in self.expiring(quota_id, today - timedelta(days=grace_days)):
            if self.permit(quota_id, number) is None:
                continue
            self.end_permit(terms_of_year, quota_id, number, today, "expired", now)
            ended.append(number)
        return ended

    @translated
    def permit(self, quota_id: str, number: str) -> Permit | None:
        return self.permits([(quota_id, number)]).get((quota_id, number))

    @translated
    def permits(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Permit]:
        """Permits by (quota id, number), in one round trip; absent ones are left out."""
        pipe = self.client.pipeline(transaction=False)
        for quota_id, number in wanted:
            pipe.hgetall(self.key(f"{quota_id}|permit|{number}"))
        return {
            item: permit
            for item, raw in zip(wanted, pipe.execute(), strict=True)
            if (permit := permit_of(raw)) is not None
        }

    # --- pro-rata runs and importer accounts ---------------------------------------------

    @translated
    def run(self, terms: QuotaTerms, day: date, now: str) -> RunResult:
        """The pro-rata run of one quota for one day (see run.lua)."""
        list_role = f"{terms.id}|prorata|{day.isoformat()}"
        entries = [_text(item) for item in self.client.lrange(self.key(list_role), 0, -1)]
        roles = [*self.year_roles(terms), list_role, f"{terms.id}|prorata_days",
                 f"{terms.id}|expiring"]  # fmt: skip
        for entry in entries:
            kind, _, ident = entry.partition(":")
            if kind == "decl":
                roles += [f"{terms.id}|prorata_req|{ident}", f"{terms.id}|prorata_grant|{ident}"]
            else:
                roles.append(f"{terms.id}|permit|{ident}")
        payload = {
            "quota": terms.model_dump(mode="json"),
            "day": day.isoformat(),
            "entries": entries,
        }
        answer = json.loads(self._call("run", roles, payload, now))
        declarations = answer["declarations"]
        permits = answer["permits"]
        return RunResult(
            [str(item) for item in declarations] if isinstance(declarations, list) else [],
            list(permits) if isinstance(permits, list) else [],
            int(answer["requested"]),
        )

    @translated
    def pro_rata_days(self, quota_id: str) -> list[date]:
        raw = self.client.smembers(self.key(f"{quota_id}|prorata_days"))
        return sorted(date.fromisoformat(_text(item)) for item in raw)

    @translated
    def account(
        self, terms: QuotaTerms, operation: str, business_number: str, quantity: int,
        to_business_number: str = "", year_volume: int = 0, now: str = "",
    ) -> str | None:  # fmt: skip
        """Set an importer's initial allocation, or transfer units to another importer;
        returns None, or why it was refused."""
        roles = [
            f"{terms.id}|events|{terms.year}",
            f"{terms.id}|events_on|{terms.year}",
            f"{terms.id}|events_days|{terms.year}",
            f"{terms.id}|accts|{terms.year}",
            f"{terms.id}|accts_total|{terms.year}",
            f"{terms.id}|acct|{terms.year}|{business_number}",
        ]
        if to_business_number:
            roles.append(f"{terms.id}|acct|{terms.year}|{to_business_number}")
        payload = {
            "quota": terms.model_dump(mode="json"),
            "operation": operation,
            "business_number": business_number,
            "quantity": quantity,
            "to_business_number": to_business_number,
            "year_volume": year_volume,
            # account events are dated on the day they are made (UTC, as `now`)
            "day": now[:10] if now else datetime.now(UTC).date().isoformat(),
        }
        outcome, reason = self._call("account", roles, payload, now)
        return None if _text(outcome) == "ok" else _text(reason)

    @translated
    def account_holders(self, quota_id: str, year: int) -> list[str]:
        raw = self.client.smembers(self.key(f"{quota_id}|accts|{year}"))
        return sorted(_text(item) for item in raw)

    # --- reads -------------------------------------------------------------------------

    @translated
    def view(
        self,
        terms: QuotaTerms,
        as_of: date,
        cursor: int = 0,
        limit: int = 100,
        accounts: Sequence[str] = (),
        latest: bool = False,
        today: date | None = None,
    ) -> LedgerYear:
        """The quota year on `as_of`, with one page of its events from `cursor` (or the
        latest page), and the allocation accounts named (see view.lua). Only what is dated
        on or before `as_of` counts; a read as of the caller's `today` or later is the
        ledger now, everything written counted (an acceptance date a time zone ahead of
        the caller's day included)."""
        counted = date.max if today is not None and as_of >= today else as_of
        limit = max(1, min(limit, MAX_EVENTS_PAGE))
        roles = [
            *self.year_roles(terms),
            *(f"{terms.id}|acct|{terms.year}|{bn}" for bn in accounts),
        ]
        payload = {
            "quota": terms.model_dump(mode="json"),
            "day": as_of.isoformat(),
            "counted": counted.isoformat(),
            "offset": max(cursor, 0),
            "limit": limit,
            "latest": latest,
            "accounts": list(accounts),
        }
        answer = json.loads(self._call("view", roles, payload, ""))
        periods = answer["periods"]
        current = answer["current"]
        total = int(answer["total"])
        events = answer["events"] if isinstance(answer["events"], list) else []
        first = max(total - limit, 0) if latest else max(cursor, 0)
        following = first + len(events)
        return LedgerYear.model_validate(
            {
                "quota_id": terms.id,
                "quota_year": terms.year,
                "as_of": as_of,
                "mode": terms.mode,
                "drawn_at": terms.drawn_at,
                "periods": [_period(item) for item in periods],
                "current": _period(periods[current]) if isinstance(current, int) else None,
                "events": {
                    "events": [json.loads(item) for item in events],
                    "total": total,
                    "next_cursor": str(following) if following < total else None,
                },
                "accounts": answer["accounts"] if isinstance(answer["accounts"], list) else [],
            }
        )


def _period(raw: dict[str, Any]) -> dict[str, Any]:
    # Lua's cjson writes an empty table as {}; the schema says a list
    if raw.get("sub_quotas") == {}:
        raw = {**raw, "sub_quotas": []}
    return raw


def registration_text(raw: dict[Any, Any]) -> str:
    """A permit's registration from its stored hash: in pieces of at most 64 bytes
    (store/lua/ledger.lua, so that the hash stays a listpack), joined as bytes before
    they are read as text, or whole in a permit written before."""
    stored = {_text(name): value for name, value in raw.items()}
    if "registration" in stored:
        return _text(stored["registration"])
    pieces: list[bytes] = []
    while (piece := stored.get(f"registration:{len(pieces) + 1}")) is not None:
        pieces.append(piece if isinstance(piece, bytes) else str(piece).encode())
    return b"".join(pieces).decode()


def permit_of(raw: dict[Any, Any]) -> Permit | None:
    """A permit from its stored hash (None when there is none)."""
    if not raw:
        return None
    registration = json.loads(registration_text(raw))
    fields = {
        name: _text(value)
        for name, value in ((_text(key), value) for key, value in raw.items())
        if not name.startswith("registration")
    }
    return Permit.model_validate(
        {
            **registration,
            "status": fields.get("status") or "pending_allocation",
            "held": int(fields.get("held") or 0),
            "reserve": int(fields.get("reserve") or 0),
            "period": fields.get("period") or None,
            "used": int(fields.get("used") or 0),
            "used_by": fields.get("used_by") or None,
            "returned": int(fields.get("returned") or 0),
            "lapsed": int(fields.get("lapsed") or 0),
        }
    )


def allocation_of(raw: Any) -> Allocation:
    data = json.loads(raw)
    # Lua's cjson writes an empty table as {}; the schema says a list
    for name in ("lines", "balances"):
        if data.get(name) == {}:
            data[name] = []
    data.pop("returned_at", None)
    for line in data.get("lines", []):
        if line.get("period") == "":
            line["period"] = "-"
    return Allocation.model_validate(data)


# mypy holds the implementation to the Protocol here, whichever methods callers use
_IMPLEMENTS: type[QuotaLedger] = Ledger
