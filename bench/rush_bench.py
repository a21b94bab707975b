"""The permit rush (SPEC §9): 400 importers, each with a submitter token of its own, apply
for permits over HTTP at once, asking together for more vehicles than the period holds,
against the real stack (API, 2 workers, Redis). Each applies as a client does: no permit
number (the ledger assigns it), no `issued_on` (today), so the permits draw from the
period containing today, which nothing has drawn from yet on a fresh stack.

The baseline is the same 400 clients calling `GET /v1/whoami` at once on the same server
in the same run: an authenticated route that only answers. Units issued must be exactly
what the period held, never more; the bench fails otherwise."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.e2e_bench import TOKEN, LeanClient, Running, all_at_once, running_stack

APPLICANTS = 400
TRQ = "CA-CN-EV-TRQ-2026"
DEMAND = 1.5
"""What the applicants ask for together, as a multiple of what the period holds."""


def applicant_token(index: int) -> str:
    return f"bench-applicant-token-{index:06d}"


def applicant_number(index: int) -> str:
    """A business number of its own for each applicant (BN15: 9 digits, RM, 4 digits)."""
    return f"{700_000_000 + index:09d}RM0001"


def applicant_tokens(count: int) -> list[dict[str, str]]:
    return [
        {"token": applicant_token(index), "role": "submitter",
         "business_number": applicant_number(index)}
        for index in range(count)
    ]  # fmt: skip


def units_each(holds: int, applicants: int, demand: float = DEMAND) -> int:
    """The smallest quantity that divides what the period holds and makes the applicants
    ask together for at least `demand` times it: the units then run out exactly, and
    every application past them is refused with 0 left."""
    wanted = demand * holds / applicants
    return next(size for size in range(1, holds + 1) if size >= wanted and holds % size == 0)


def current_period(stack: Running) -> dict[str, Any]:
    """The period containing today, as an admin reads it over HTTP."""
    answer = httpx.get(
        f"{stack.url}/v1/quotas/{TRQ}",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    answer.raise_for_status()
    period: dict[str, Any] = answer.json()["period"]
    return period


def burst(
    stack: Running, count: int, call: Callable[[LeanClient, int], Awaitable[tuple[int, Any]]]
) -> tuple[float, list[float], list[tuple[int, Any]]]:
    """`count` clients, each on its own connection with its own token, connect first and
    then call once all at the same moment. Seconds from that moment to the last answer,
    each client's latency (ms) and each answer."""
    latencies: list[float] = [0.0] * count
    answers: list[tuple[int, Any]] = [(0, None)] * count

    async def client(index: int, start: asyncio.Event) -> None:
        http = LeanClient(stack.url, applicant_token(index))
        await http.connect()
        try:
            await start.wait()
            sent = time.monotonic()
            answers[index] = await call(http, index)
            latencies[index] = (time.monotonic() - sent) * 1000
        finally:
            await http.close()

    return all_at_once(count, client), latencies, answers


def api_cpu_ms(stack: Running) -> float:
    """CPU the API process has used so far, in ms: unlike a rate, what a request costs
    it does not depend on what else the machine runs."""
    return stack.cpu_seconds()["api"] * 1000


def echo_rate(stack: Running, count: int) -> tuple[float, list[float], float]:
    """Calls per second of `GET /v1/whoami` by `count` clients at once, each one's
    latency (ms), and the API's CPU per call (ms, connecting included)."""

    async def whoami(http: LeanClient, index: int) -> tuple[int, Any]:
        return await http.request("GET", "/v1/whoami")

    before = api_cpu_ms(stack)
    seconds, latencies, answers = burst(stack, count, whoami)
    cpu = (api_cpu_ms(stack) - before) / count
    wrong = [answer for answer in answers if answer[0] != 200]
    if wrong:
        raise RuntimeError(f"/v1/whoami answered {wrong[0]}")
    return count / seconds, latencies, cpu


def rush(stack: Running, count: int) -> dict[str, Any]:
    before = current_period(stack)
    holds = int(before["remaining"])
    if holds <= 0:
        raise RuntimeError(f"the period of {before['start']} holds nothing to rush for")
    size = units_each(holds, count)

    async def apply(http: LeanClient, index: int) -> tuple[int, Any]:
        application = {"business_number": applicant_number(index), "measure": TRQ,
                       "quantity": size}  # fmt: skip
        return await http.request("POST", "/v1/permits", application)

    cpu_before = api_cpu_ms(stack)
    seconds, latencies, answers = burst(stack, count, apply)
    cpu = (api_cpu_ms(stack) - cpu_before) / count
    issued = [body for status, body in answers if status == 201]
    refused = [body for status, body in answers if status == 409]
    unexpected = [(status, body) for status, body in answers if status not in (201, 409)]
    if unexpected:
        raise RuntimeError(f"the rush got {len(unexpected)} unexpected answers: {unexpected[0]}")
    units = sum(int(body["held"]) for body in issued)
    after = current_period(stack)
    drawn = int(after["used"]) - int(before["used"])
    if units != holds or drawn != holds or int(after["remaining"]) != 0:
        raise RuntimeError(
            f"the period held {holds} units: {units} were issued to applicants, the ledger "
            f"drew {drawn} and says {after['remaining']} remain"
        )
    if any(body["detail"]["remaining"] != 0 for body in refused):
        raise RuntimeError(f"a refusal did not answer 0 units left: {refused[0]}")
    latencies.sort()
    return {
        "seconds": seconds,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(count - 1, int(count * 0.99))],
        "holds": holds,
        "size": size,
        "issued": len(issued),
        "units": units,
        "refused": len(refused),
        "period": before["start"],
        "api_cpu_ms": cpu,
    }


def run(applicants: int = APPLICANTS, workers: int = 2) -> dict[str, Any]:
    """The rush and its baseline on one fresh stack (the period must be untouched)."""
    with (
        tempfile.TemporaryDirectory(prefix="accord-rush-bench-") as scratch,
        running_stack(
            Path(scratch), workers=workers, extra_tokens=applicant_tokens(applicants)
        ) as stack,
    ):
        echo_before, latencies_before, cpu_before = echo_rate(stack, applicants)
        found = rush(stack, applicants)
        echo_after, latencies_after, cpu_after = echo_rate(stack, applicants)
    echo_per_s = (echo_before + echo_after) / 2  # the baseline on either side of the rush
    echo_latencies = sorted(latencies_before + latencies_after)
    per_s = applicants / found["seconds"]
    return {
        "rush_applicants": applicants,
        "rush_period": found["period"],
        "rush_units_each": found["size"],
        "rush_units_held": found["holds"],
        "rush_units_issued": found["units"],
        "rush_permits_issued": found["issued"],
        "rush_refusals": found["refused"],
        "rush_p50_ms": round(found["p50_ms"], 1),
        "rush_p99_ms_400": round(found["p99_ms"], 1),
        "rush_per_s": round(per_s, 1),
        "rush_echo_per_s": round(echo_per_s, 1),
        # the baseline's own p99: what 400 calls at once cost a route that does nothing
        "rush_echo_p99_ms": round(echo_latencies[int(len(echo_latencies) * 0.99)], 1),
        "rush_vs_echo": round(per_s / echo_per_s, 3),
        # the API's CPU per application and per baseline call (ms, connecting included):
        # steadier than the rates on a shared machine
        "rush_api_cpu_ms": round(found["api_cpu_ms"], 2),
        "rush_echo_api_cpu_ms": round((cpu_before + cpu_after) / 2, 2),
    }
