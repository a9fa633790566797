"""Which hosts a URL fetch may reach: the address half of the URL guard.

Hosts are normalised the way a resolver would read them before anything is decided:
``2130706433``, ``0x7f000001``, ``017700000001`` and ``127.1`` are all 127.0.0.1 to
``inet_aton`` (and to browsers), so they are parsed as IPv4 here too, and IPv6 forms that
carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.

Every address falls in one of three classes: ``public`` (always allowed), ``private``
(loopback, RFC 1918, CGNAT, unique-local: allowed only with ``allow_private_networks``)
and ``blocked`` (never: unspecified, link-local, multicast, reserved, documentation,
cloud metadata endpoints). The lists are explicit rather than ``ipaddress.is_global``,
whose answers changed between Python releases and call ``::7f00:1`` global.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from ..errors import UnsafeURLError

__all__ = ["BLOCKED_HOSTNAMES", "IPAddress", "Reach", "classify", "parse_ip_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Reach = Literal["public", "private", "blocked"]

#: Names of cloud metadata services; their addresses are blocked as well.
BLOCKED_HOSTNAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_Networks = tuple[_V4 | _V6, ...]
_BLOCKED_V4: _Networks = tuple(
    _V4(n)
    for n in (
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host on Linux
        "169.254.0.0/16",  # link-local, holds 169.254.169.254 (AWS, GCP, Azure, OCI metadata)
        "100.100.100.200/32",  # Alibaba Cloud metadata (inside CGNAT space)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, with 255.255.255.255
    )
)
_PRIVATE_V4: _Networks = tuple(
    _V4(n) for n in ("10.0.0.0/8", "127.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_BLOCKED_V6: _Networks = tuple(
    _V6(n)
    for n in (
        "fd00:ec2::254/128",  # AWS metadata over IPv6 (inside unique-local space)
        "::/8",  # unspecified and reserved (IPv4-compatible forms are unpacked first)
        "100::/64",  # discard
        "2001::/32",  # Teredo: the real peer is hidden in the address
        "2001:10::/28",
        "2001:db8::/32",
        "64:ff9b:1::/48",  # local-use NAT64
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_PRIVATE_V6: _Networks = (_V6("fc00::/7"),)
_NAT64 = _V6("64:ff9b::/96")
_COMPAT = _V6("::/96")

_NUMBER = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, where it stands for one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def classify(ip: IPAddress) -> Reach:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "blocked"
        inner = _embedded_v4(ip)
        if inner is not None:
            return classify(inner)
        if ip.is_loopback:  # ::1 sits inside the reserved ::/8
            return "private"
        blocked, private = _BLOCKED_V6, _PRIVATE_V6
    else:
        blocked, private = _BLOCKED_V4, _PRIVATE_V4
    if any(ip in net for net in blocked):
        return "blocked"
    if any(ip in net for net in private):
        return "private"
    return "public" if ip.is_global and not ip.is_multicast else "blocked"


def _ipv4_number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def _loose_ipv4(host: str) -> ipaddress.IPv4Address:
    """``inet_aton``'s reading: 1-4 parts, each decimal, octal (0...) or hex (0x...); the
    last part fills the remaining bytes (``127.1`` is 127.0.0.1)."""
    parts = host.split(".")
    try:
        if len(parts) > 4 or not all(_NUMBER.match(p) for p in parts):
            raise ValueError(host)
        numbers = [_ipv4_number(p) for p in parts]
    except ValueError:
        raise UnsafeURLError(f"host {host!r} is neither a hostname nor a valid IPv4 address") from None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise UnsafeURLError(f"host {host!r} is an out-of-range IPv4 address")
    value = last
    for pos, n in enumerate(head):
        value |= n << (8 * (3 - pos))
    return ipaddress.IPv4Address(value)


def parse_ip_host(host: str) -> IPAddress | None:
    """The address a URL host names literally, or None for a hostname to resolve.

    Follows the WHATWG URL rule: a host whose last label is a number is an IPv4 address
    (and an invalid one is refused), so no spelling of an address passes as a name.
    """
    host = host.rstrip(".")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            raise UnsafeURLError(f"host {host!r} is not a valid IPv6 address") from None
    if _NUMBER.match(host.rsplit(".", 1)[-1]):
        return _loose_ipv4(host)
    return None
