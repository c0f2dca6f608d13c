"""Who may try to bind: an account's allowed networks, and a limit on failed binds per address.

An SMPP 3.4 password has at most 8 characters, and the gateway may face the internet. So:

- `smpp_accounts.allowed_networks` (addresses or CIDR networks, separated by spaces or commas;
  empty: anywhere): a bind from another address is refused ESME_RBINDFAIL before its password is
  looked at, as a carrier admits only the IP ranges a customer registered.
- Failed binds (an unknown system_id, a wrong password, an address not allowed) are counted per
  peer address: beyond `FAILED_BINDS` in `FAILED_BIND_WINDOW_MS`, every bind from that address
  is refused ESME_RBINDFAIL, its credentials unread, for `BLOCK_MS`. The counts live in a
  `FraudStore`: in the process (embedded profile), in Redis across every `tidings smpp` process
  (distributed profile).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from functools import lru_cache

from tidings.policy.fraud_store import FraudStore, LocalFraudStore, Window

__all__ = ["BLOCK_MS", "FAILED_BINDS", "FAILED_BIND_WINDOW_MS", "BindGuard", "allowed", "parse_networks"]

log = logging.getLogger(__name__)

FAILED_BINDS = 10
FAILED_BIND_WINDOW_MS = 60_000
BLOCK_MS = 300_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SEPARATORS = re.compile(r"[\s,]+")


@lru_cache(maxsize=1024)
def parse_networks(text: str | None) -> tuple[Network, ...]:
    """The networks of an `allowed_networks` value; ValueError for one that is not an address or
    a network."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in _SEPARATORS.split(text or "") if item)


def allowed(text: str | None, address: str | None) -> bool:
    """Whether `address` may bind to an account whose allowed networks are `text` (none: any)."""
    networks = parse_networks(text)
    if not networks:
        return True
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


class BindGuard:
    def __init__(self, clock: Callable[[], int], store: FraudStore | None = None) -> None:
        self.clock = clock
        self.store: FraudStore = store if store is not None else LocalFraudStore()

    async def blocked(self, address: str | None) -> bool:
        """Whether binds from `address` are refused unread for now."""
        return await self.store.blocked_until(f"smpp-bind-blocked:{address}", self.clock()) is not None

    async def failed(self, address: str | None) -> None:
        """Count a failed bind from `address`; past the limit, block it."""
        now = self.clock()
        window = Window(f"smpp-bind-failed:{address}", FAILED_BINDS, FAILED_BIND_WINDOW_MS)
        full, _ = await self.store.take([window], now)
        if full >= 0 and await self.store.block(f"smpp-bind-blocked:{address}", now + BLOCK_MS, now):
            log.warning("smpp gateway: more than %d failed binds from %s in %d s; refusing its binds for %d s",
                        FAILED_BINDS, address, FAILED_BIND_WINDOW_MS // 1000, BLOCK_MS // 1000)
