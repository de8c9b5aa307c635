"""Which IP addresses a fetch may reach: public ones always; loopback, private, link-local and
other special-purpose ones only when the source itself lives there or the desk allows them; cloud
metadata addresses only when named one by one. Pure: `pipeline.fetch` asks about every address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

METADATA = "a cloud metadata"
# Where cloud platforms hand out instance credentials: 169.254.169.254 (AWS, GCP, Azure,
# OpenStack, DigitalOcean, Oracle, …), AWS ECS/EKS task credentials, Azure's wireserver,
# Alibaba, Tencent, Oracle Cloud Classic, AWS over IPv6.
METADATA_ADDRESSES = frozenset(map(ip_address, (
    "169.254.169.254", "169.254.170.2", "169.254.170.23", "168.63.129.16", "100.100.100.200",
    "169.254.0.23", "192.0.0.192", "fd00:ec2::254", "fd00:ec2::23")))
# IANA's special-purpose ranges that are not the public internet, each with how an error names
# it; the first that holds an address is its range.
_RANGES: tuple[tuple[Network, str], ...] = tuple((ip_network(net), kind) for net, kind in (
    ("127.0.0.0/8", "a loopback"), ("::1/128", "a loopback"),
    ("10.0.0.0/8", "a private"), ("172.16.0.0/12", "a private"), ("192.168.0.0/16", "a private"),
    ("100.64.0.0/10", "a carrier-grade NAT"),
    ("169.254.0.0/16", "a link-local"), ("fe80::/10", "a link-local"),
    ("fc00::/7", "a unique-local"),
    ("0.0.0.0/8", "an unspecified"), ("::/128", "an unspecified"),  # 0.0.0.0 reaches this host
    ("224.0.0.0/4", "a multicast"), ("ff00::/8", "a multicast"),
    ("192.0.0.0/24", "a reserved"), ("192.0.2.0/24", "a reserved"),
    ("192.88.99.0/24", "a reserved"), ("198.18.0.0/15", "a reserved"),
    ("198.51.100.0/24", "a reserved"), ("203.0.113.0/24", "a reserved"),
    ("240.0.0.0/4", "a reserved"),  # with 255.255.255.255
    ("::/96", "a reserved"), ("::ffff:0:0:0/96", "a reserved"), ("64:ff9b:1::/48", "a reserved"),
    ("100::/64", "a reserved"), ("2001::/23", "a reserved"), ("2001:db8::/32", "a reserved"),
    ("fec0::/10", "a reserved"),
))
_NAT64 = ip_network("64:ff9b::/96")


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped (::ffff:10.0.0.5, which an IPv6 socket
    connects to as 10.0.0.5), NAT64's well-known prefix, 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def special_range(address: Address) -> tuple[Network, str] | None:
    """The special-purpose range `address` is in and how to name it (a metadata address is a range
    of its own); None for a public address. Give the IPv4 address an IPv6 one embeds."""
    if address in METADATA_ADDRESSES:
        return ip_network(address), METADATA
    for network, kind in _RANGES:
        if address in network:
            return network, kind
    return None


def home_ranges(addresses: Iterable[str]) -> tuple[Network, ...]:
    """The special-purpose ranges a source's configured host resolves into (a desk watching an
    intranet page): its fetches may reach them. Metadata addresses never count."""
    found: dict[Network, None] = {}
    for text in addresses:
        address = _reached(ip_address(text))
        special = special_range(address)
        if special is not None and special[1] != METADATA:
            found[special[0]] = None
    return tuple(found)


@dataclass(frozen=True)
class AddressPolicy:
    """What one fetch may reach beyond public addresses: its source's own ranges (`home`) and the
    desk's `defaults.allow_networks` (`listed`). A metadata address only when `listed` names it
    alone (a /32 or /128): a wider network or the source's own range is not enough."""

    home: tuple[Network, ...] = ()
    listed: tuple[Network, ...] = ()

    def __hash__(self) -> int:  # it keys the Fetcher's clients and caches on every fetch
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.home, self.listed))

    def refusal(self, address: str, host: str | None = None) -> str | None:
        """Why `address` (what `host` resolved to) may not be reached, as the end of an error
        line; None when it may."""
        ip = ip_address(address)
        reached = _reached(ip)
        special = special_range(reached)
        if special is None:
            return None
        network, kind = special
        if kind == METADATA:
            if any(n.num_addresses == 1 and reached in n for n in self.listed):
                return None
            hint = f"allow it by listing {reached} itself in defaults.allow_networks"
        elif network in self.home or any(reached in n for n in self.listed):
            return None
        else:
            hint = "allow it with defaults.allow_networks"
        shown = str(ip) if reached is ip else f"{ip} (IPv4 {reached})"
        if host is None or ip_address_or_none(host) is not None:
            return f"{shown} is {kind} address ({hint})"
        return f"{host} resolves to {shown}, {kind} address ({hint})"


def ip_address_or_none(text: str) -> Address | None:
    """`text` as an IP address, None when it is a host name."""
    try:
        return ip_address(text)
    except ValueError:
        return None


def _reached(address: Address) -> Address:
    """The address a connection to `address` actually reaches."""
    if isinstance(address, IPv6Address):
        return embedded_ipv4(address) or address
    return address
