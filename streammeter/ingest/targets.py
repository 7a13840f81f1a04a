"""Which delivery target pulled (or served) a request: counting.md 3, docs/api/wowza-usage.md.

A target matches a request when any of its rules does:
- host: the request's Host, compared without port and case; `*.example.com` (or
  `.example.com`) matches every subdomain of example.com (not example.com itself);
- cidr: the client IP is inside the range (IPv4 or IPv6);
- user agent: the rule is a case-insensitive substring of the User-Agent.

Targets are tried in the order given (the store lists the primary target first, then the others
in the order they were added); the first match wins. A request no rule matches is the primary
target's (only identified pullers are billed as additional targets). With no targets
configured, or no primary and no match, everything is primary and unattributed: (None, False).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from streammeter.store.base import DeliveryTarget

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class _Compiled:
    target_id: str
    additional: bool
    hosts: frozenset[str]
    host_suffixes: tuple[str, ...]
    networks: tuple[IPNetwork, ...]
    user_agents: tuple[str, ...]


def _host(value: str | None) -> str | None:
    if not value:
        return None
    host = value.strip().lower().rstrip(".")
    if host.startswith("["):  # [IPv6]:port
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host or None


def _ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    text = value.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # IPv4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_cidr(value: str) -> IPNetwork:
    """An IP range (`151.101.0.0/16`, `2a04:4e40::/32`) or one address; ValueError says why."""
    return ipaddress.ip_network(value.strip(), strict=False)


class TargetClassifier:
    """`classify_target` with the rules compiled once, for a log of many lines."""

    def __init__(self, targets: Sequence[DeliveryTarget]) -> None:
        self._primary = next((t.target_id for t in targets if t.primary), None)
        compiled = []
        for target in targets:
            hosts, suffixes = set(), []
            for rule in target.hosts:
                rule = rule.strip().lower().rstrip(".")
                if rule.startswith("*."):
                    suffixes.append(rule[1:])
                elif rule.startswith("."):
                    suffixes.append(rule)
                elif rule:
                    hosts.add(rule)
            compiled.append(
                _Compiled(
                    target.target_id,
                    not target.primary,
                    frozenset(hosts),
                    tuple(suffixes),
                    tuple(parse_cidr(c) for c in target.cidrs),
                    tuple(u.lower() for u in target.user_agents if u),
                )
            )
        self._targets = tuple(compiled)

    def __call__(
        self, host: str | None, client_ip: str | None, user_agent: str | None
    ) -> tuple[str | None, bool]:
        name, address = _host(host), _ip(client_ip)
        agent = user_agent.lower() if user_agent else None
        for target in self._targets:
            if name is not None and (
                name in target.hosts or any(name.endswith(s) for s in target.host_suffixes)
            ):
                return target.target_id, target.additional
            if address is not None and any(
                address.version == net.version and address in net for net in target.networks
            ):
                return target.target_id, target.additional
            if agent is not None and any(rule in agent for rule in target.user_agents):
                return target.target_id, target.additional
        return self._primary, False


def classify_target(
    targets: Sequence[DeliveryTarget],
    host: str | None,
    client_ip: str | None,
    user_agent: str | None,
) -> tuple[str | None, bool]:
    """(target id or None, additional) for a request with this Host, client IP and User-Agent.

    `additional` is True only when the matching target is not the primary one. For many
    requests, build a `TargetClassifier(targets)` once and call it instead.
    """
    if not targets:
        return None, False
    return TargetClassifier(targets)(host, client_ip, user_agent)
