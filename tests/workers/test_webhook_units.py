"""The pure parts of webhooks: which addresses are public, which targets are refused and
where an attempt connects, the retry schedule, the signature and who gets an event."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import time
from pathlib import Path

import pytest

from schemas.webhook import EVENT_TYPES, IMPORTER_EVENTS, signature, wants
from workers import webhook_delivery, webhook_targets


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.100.100.200", False),  # shared address space (a metadata address too)
        ("0.0.0.0", False),  # noqa: S104 (an address judged, not bound)
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00:ec2::254", False),  # an IPv6 metadata address
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.215.14", True),
        ("::127.0.0.1", False),  # IPv4-compatible: loopback through an automatic tunnel
        ("::93.184.215.14", False),  # IPv4-compatible is deprecated whatever it carries
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the metadata address
        ("64:ff9b::5db8:d70e", True),  # NAT64 of a public address
        ("64:ff9b:1::a00:1", False),  # NAT64's local-use prefix
        ("2002:7f00:1::", False),  # 6to4 of loopback
        ("2002:5db8:d70e::1", True),  # 6to4 of a public address
        ("fec0::1", False),  # site-local (deprecated)
        ("192.0.0.8", False),  # IETF protocol assignments
        ("240.0.0.1", False),  # reserved
    ],
)
def test_only_addresses_the_internet_routes_are_public(address: str, expected: bool) -> None:
    """Loopback, private, link-local, shared, unspecified, reserved and multicast
    addresses are not public, nor an IPv6 address that carries one (mapped, NAT64, 6to4)
    or any IPv4-compatible one."""
    assert webhook_targets.public(address) is expected


def test_an_attempt_connects_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name is looked up once: the attempt connects to that address, sending the
    name as Host (and as TLS server name), so a second lookup cannot rebind it."""
    monkeypatch.setattr(webhook_targets, "_resolve", lambda host, port: ["93.184.215.14"])
    found = webhook_targets.target("https://hooks.example.com:8443/in?x=1", allow_private=False)
    assert (found.address, found.port, found.path) == ("93.184.215.14", 8443, "/in?x=1")
    assert found.host_header == "hooks.example.com:8443"
    assert found.host == "hooks.example.com"


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """One private address among a name's addresses is enough to refuse it; the refusal
    does not say which address the name has (the service's DNS is not an oracle)."""
    monkeypatch.setattr(
        webhook_targets, "_resolve", lambda host, port: ["93.184.215.14", "10.0.0.7"]
    )
    with pytest.raises(webhook_targets.TargetRefused, match="not public") as refused:
        webhook_targets.target("https://rebind.example.com/", allow_private=False)
    assert "10.0.0.7" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://93.184.215.14/a\r\nX-Injected: 1", "control"),
        ("https://93.184.215.14/a b", "spaces"),
        ("https://93.184.215.14/a\x00b", "control"),
        ("https://93.184.215.14:0/", "port"),
        ("https://" + "a" * 70 + ".example/", "valid name"),
    ],
)
def test_a_url_a_request_line_cannot_carry_is_refused(url: str, words: str) -> None:
    """Whitespace or control characters (which would split or bend the request line),
    port 0, and a label no DNS name may have are refused before any lookup."""
    with pytest.raises(webhook_targets.TargetRefused, match=words):
        webhook_targets.target(url, allow_private=False)


def test_an_internationalised_url_is_sent_as_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-ASCII host is looked up, named in Host and in TLS as its IDNA form, and a
    non-ASCII path is percent-encoded, so the request line stays ASCII."""
    looked_up: list[str] = []
    monkeypatch.setattr(
        webhook_targets, "_resolve", lambda host, port: looked_up.append(host) or ["93.184.215.14"]
    )
    found = webhook_targets.target("https://bücher.example/café?q=ü&x=%41", allow_private=False)
    assert looked_up == ["xn--bcher-kva.example"]
    assert found.host_header == "xn--bcher-kva.example"
    assert found.path == "/caf%C3%A9?q=%C3%BC&x=%41"


def test_the_flag_allows_http_and_private_addresses() -> None:
    """With ACCORD_WEBHOOK_ALLOW_PRIVATE=1, http to loopback is a target (tests, local use)."""
    found = webhook_targets.target("http://127.0.0.1:9999/hook", allow_private=True)
    assert (found.scheme, found.address, found.port) == ("http", "127.0.0.1", 9999)
    with pytest.raises(webhook_targets.TargetRefused, match="https"):
        webhook_targets.target("http://127.0.0.1:9999/hook", allow_private=False)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    """A host with no address is refused with words that say so."""
    with pytest.raises(webhook_targets.TargetRefused, match="resolve"):
        webhook_targets.target("https://no-such-host.invalid/", allow_private=False)


def test_retries_back_off_exponentially_with_jitter() -> None:
    """The first retry comes 0.5 to 1 s after the failure, each later one up to twice as
    late, never more than an hour; the random half spreads them."""
    assert webhook_delivery.backoff(1, lambda: 0.0) == 0.5
    assert webhook_delivery.backoff(1, lambda: 1.0) == 1.0
    assert webhook_delivery.backoff(5, lambda: 0.0) == 8.0
    assert webhook_delivery.backoff(5, lambda: 1.0) == 16.0
    assert webhook_delivery.backoff(40, lambda: 1.0) == webhook_delivery.MAX_BACKOFF
    assert 0.5 <= webhook_delivery.backoff(1) <= 1.0


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body() -> None:
    """`t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the secret."""
    body = b'{"id":"evt_1","type":"permit.issued"}'
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_k", 1700000000, body) == f"t=1700000000,v1={expected}"


def test_a_bound_subscription_gets_only_its_importers_events() -> None:
    """Bound to a business number: only that importer's events of the kinds asked; never
    a quota event, which belongs to no importer. Unbound: every event of the kinds asked."""
    kinds = ("declaration.decided", "quota.critical")
    assert wants(kinds, "111111111RM0001", "declaration.decided", "111111111RM0001")
    assert not wants(kinds, "111111111RM0001", "declaration.decided", "222222222RM0001")
    assert not wants(kinds, "111111111RM0001", "quota.critical", None)
    assert wants(kinds, None, "quota.critical", None)
    assert not wants(kinds, None, "permit.issued", "111111111RM0001")
    assert set(EVENT_TYPES) - IMPORTER_EVENTS == {"quota.critical", "quota.exhausted"}


def test_the_example_receivers_check_refuses_malformed_headers() -> None:
    """examples/webhook_receiver.py (the check docs/webhooks.md shows) accepts a fresh
    signature and refuses a stale, a wrong-key or a malformed one (a non-ASCII digit or
    signature, a missing part) with False, never an exception."""
    path = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver", path)
    assert spec is not None and spec.loader is not None
    receiver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(receiver)
    now = int(time.time())
    assert receiver.verify("whsec_k", signature("whsec_k", now, b"{}"), b"{}")
    assert not receiver.verify("whsec_k", signature("whsec_k", now - 400, b"{}"), b"{}")
    assert not receiver.verify("whsec_other", signature("whsec_k", now, b"{}"), b"{}")
    for header in ("t=\u00b2,v1=ab", f"t={now},v1=\u00e9", "v1=ab", f"t={now}", ""):
        assert receiver.verify("whsec_k", header, b"{}") is False, header
