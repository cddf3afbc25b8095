"""Which addresses a webhook may reach: the host of an allowed URL is resolved, and every address
it resolves to must be global (not loopback, private, link-local, shared, reserved, multicast or
unspecified) unless it lies in UAI_WEBHOOK_PRIVATE_NETWORKS.

The POST then connects to the address that was checked (``pinned``): the URL's host is replaced by
that address, the ``Host`` header and (for https) the TLS server name and certificate check keep
the host's name. A name that resolves to a public address when checked and to 127.0.0.1 a moment
later (DNS rebinding) is never called on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from typing import Any

import httpx
from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Unresolved(Exception):
    """The host has no address now (a DNS failure): worth trying again later."""


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def check_networks_setting(entry: str) -> str | None:
    """Why an entry of UAI_WEBHOOK_PRIVATE_NETWORKS is not a network (None when it is)."""
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError as exc:
        return f"not a network (an address or CIDR such as 10.0.0.0/8: {exc})"
    return None


def address_allowed(address: Address) -> bool:
    """Whether a webhook may connect to ``address``: a global unicast address, or one of
    UAI_WEBHOOK_PRIVATE_NETWORKS (an IPv4-mapped IPv6 address is judged as its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _networks(tuple(settings.UAI_WEBHOOK_PRIVATE_NETWORKS))):
        return True
    return address.is_global and not address.is_multicast


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _refusal(host: str, addresses: list[Address]) -> str | None:
    for address in addresses:
        if not address_allowed(address):
            return (
                f"{host} resolves to {address}, which is not a public address "
                "(loopback, private, link-local or reserved); UAI_WEBHOOK_PRIVATE_NETWORKS may allow it."
            )
    return None


def _addresses(infos: list[Any]) -> list[Address]:
    seen: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


def refusal(url: httpx.URL) -> str | None:
    """Why ``url`` may not be called (its host resolves to a refused address, or to none); None
    when it may. Blocking (resolves the name): for requests, not for the event loop."""
    host = url.host
    literal = _literal(host)
    if literal is not None:
        return _refusal(host, [literal])
    try:
        infos = socket.getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"{host} does not resolve ({exc})."
    return _refusal(host, _addresses(infos))


async def pinned(url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL to connect to (the host replaced by its checked address), the headers and the
    request extensions that keep the host's name (``Host``, the TLS server name). ``PermissionError``
    with the reason when an address is refused; ``Unresolved`` when the name has none now."""
    host = url.host
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, url.port or 443, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise Unresolved(f"{host} does not resolve ({exc})") from None
        addresses = _addresses(infos)
        if not addresses:
            raise Unresolved(f"{host} does not resolve")
    reason = _refusal(host, addresses)
    if reason is not None:
        raise PermissionError(reason)
    if literal is not None:
        return url, {}, {}
    address = addresses[0]
    netloc = url.netloc.decode("ascii")
    headers = {"Host": netloc}
    extensions: dict[str, Any] = {"sni_hostname": host} if url.scheme == "https" else {}
    return url.copy_with(host=str(address)), headers, extensions
