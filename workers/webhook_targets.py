"""Where a webhook delivery may go (SPEC §7.1): a URL checked, and an address of its host
to connect to.

Targets must be https and every address their host resolves to must be public (not
loopback, private, link-local, shared, reserved or multicast, which covers the cloud
metadata addresses), unless `webhook_allow_private` (ACCORD_WEBHOOK_ALLOW_PRIVATE=1).
The check is made when a subscription is created (the route asks `target`) and again at
each attempt (workers/webhook_delivery.py), on the addresses the request then connects
to: no second lookup a DNS rebinding could answer differently."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

RESOLVE_TIMEOUT = 3.0  # seconds a host's name has to resolve


class TargetRefused(Exception):
    """A URL no delivery may go to; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: the URL as subscribed, and an address of its host
    that was checked."""

    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


# IPv6 ranges whose low 32 bits are an IPv4 address the packet ends up at:
# IPv4-compatible (deprecated, RFC 4291 §2.5.5.1; a host with an automatic tunnel routes
# ::127.0.0.1 to its own loopback), refused whatever it carries, and NAT64's well-known
# prefix (RFC 6052), judged by what it carries; 6to4 (2002::/16, RFC 3056) carries one
# in bits 16 to 48, and NAT64's local-use prefix (RFC 8215) is a local network's
_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NOT_RECEIVERS = (
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments (RFC 6890)
)


def public(address: str) -> bool:
    """Whether an address is one the internet routes: not loopback, private, link-local
    (169.254.169.254, the cloud metadata address, among them), shared, reserved,
    site-local or multicast; an IPv6 address that carries an IPv4 one (mapped, NAT64,
    6to4) is judged by the IPv4 address too, and an IPv4-compatible one is refused."""
    found = ipaddress.ip_address(address.split("%", 1)[0])
    if any(found in network for network in _NOT_RECEIVERS):
        return False
    if isinstance(found, ipaddress.IPv6Address):
        if found in _COMPATIBLE or found.is_site_local:
            return False
        carried = found.ipv4_mapped or found.sixtofour
        if found in _NAT64:
            carried = ipaddress.IPv4Address(int(found) & 0xFFFFFFFF)
        if carried is not None and not public(str(carried)):
            return False
        if carried is not None and found.sixtofour is None:
            return True  # mapped or NAT64: the IPv4 address is where it goes
    return found.is_global and not found.is_multicast and not found.is_reserved


_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


def _resolve(host: str, port: int) -> list[str]:
    named = host if len(host) <= 80 else host[:80] + "…"  # what an error message repeats
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [str(literal)]
    lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        found = lookup.result(timeout=RESOLVE_TIMEOUT)
    except concurrent.futures.TimeoutError:
        raise TargetRefused(f"{named} did not resolve within {RESOLVE_TIMEOUT:g} s") from None
    except (OSError, ValueError) as exc:  # UnicodeError (a label too long) is a ValueError
        raise TargetRefused(f"{named} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def target(url: str, allow_private: bool) -> Target:
    """The checked target of `url`: https (or http with `allow_private`), a host whose
    every address is public (any address with `allow_private`)."""
    if any(char.isspace() or not char.isprintable() for char in url):
        raise TargetRefused("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed_schemes:
        raise TargetRefused("a webhook URL must be https")
    host = parts.hostname
    if not host:
        raise TargetRefused("a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("a webhook URL carries no credentials (the signature is the proof)")
    if port == 0:
        raise TargetRefused("a webhook URL's port is 1 to 65535")
    port = port or (443 if scheme == "https" else 80)
    try:  # an internationalised name as the DNS, the Host header and TLS know it
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise TargetRefused("a webhook URL's host is not a valid name") from None
    addresses = _resolve(host, port)
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if not allow_private:
        refused = [address for address in addresses if not public(address)]
        if refused:
            # a name's address is not repeated: the answer would tell any caller what
            # the service's own DNS says of internal names
            named = refused[0] if refused[0] == host else f"{host} resolves to an address that"
            raise TargetRefused(
                f"{named} is not public (loopback, private, link-local or reserved)"
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    path = quote(path, safe="!$%&'()*+,/:;=?@~")  # a request line is ASCII
    return Target(scheme, host, port, addresses[0], path)
