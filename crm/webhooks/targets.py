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


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def public(address: str) -> bool:
    """Whether ``address`` is a public one, IPv4 carried inside IPv6 included.

    ``::ffff:10.0.0.1`` (mapped), ``::10.0.0.1`` (compatible), 6to4, Teredo and NAT64
    addresses reach the IPv4 address inside them: that one must be public too.
    """
    ip = ipaddress.ip_address(address.split("%")[0])
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inside = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if int(ip) < 2**32 or ip in NAT64:
            inside.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return all(found is None or found.is_global for found in inside)
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
    try:  # a name in any script, as DNS and TLS know it (IDNA: xn--…)
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise TargetError(f"{parts.hostname} is not a valid host name.") from None
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetError(f"The name {parts.hostname} does not resolve: check it.") from None
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
