"""Where a webhook may post: http(s) to a public address, unless WEBHOOK_ALLOW_PRIVATE=1.

An admin's URL could otherwise reach the database, the metadata service or an
internal admin page from inside the network (server-side request forgery). The
name is resolved and every address checked when the webhook is saved, and again
at each delivery, which then connects to the very address checked (a name that
changes its answer in between cannot slip through).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna


class TargetError(ValueError):
    """A URL a webhook may not post to, and why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to call it (Host header, TLS name)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # every other IPv6 range is special


def public(address: str) -> bool:
    """Whether ``address`` is a public one, IPv4 carried inside IPv6 included.

    ``::ffff:10.0.0.1`` (mapped), ``::10.0.0.1`` (compatible), 6to4, Teredo and NAT64
    addresses reach the IPv4 address inside them: that one must be public too. Other
    IPv6 must be global unicast (2000::/3): site-local, multicast and the rest are not.
    """
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inside = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        translated = int(ip) < 2**32 or any(ip in prefix for prefix in NAT64)
        if translated:  # NAT64 (RFC 6052, 8215) or the old IPv4-compatible form
            inside.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        elif not (ip.is_global and ip in GLOBAL_UNICAST) and not ip.ipv4_mapped:
            return False
        return all(found is None or found.is_global for found in inside)
    return ip.is_global


def _literal(host: str) -> bool:
    """Whether ``host`` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check(url: str, allow_private: bool) -> Target:
    """The target of ``url``, or TargetError with what to change."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetError("Enter a URL such as https://example.com/hooks/crm.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError("Enter a URL such as https://example.com/hooks/crm.")
    if parts.username or parts.password:
        raise TargetError("Leave the user name and password out of the URL.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:  # a name in any script, as browsers, DNS and TLS know it (IDNA 2008, UTS 46)
        host = (
            parts.hostname
            if _literal(parts.hostname)
            else (idna.encode(parts.hostname, uts46=True).decode("ascii"))
        )
    except (idna.IDNAError, UnicodeError):
        raise TargetError(f"{parts.hostname} is not a valid host name.") from None
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetError(f"The name {host} does not resolve: check it.") from None
    addresses = [str(info[4][0]) for info in found]
    if not allow_private:
        for address in addresses:
            if not public(address):
                raise TargetError(
                    f"{parts.hostname} is a private or local address ({address}): webhooks "
                    "go to public addresses only (WEBHOOK_ALLOW_PRIVATE=1 allows others)."
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, addresses[0], path)
