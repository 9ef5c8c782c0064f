"""Where TaskLLM may send a model request: the base URL's shape and the addresses its host resolves to.

A model's base URL is typed by a project lead, and the server's answer (or error) is shown back, so an
unchecked URL would let a lead probe the network TaskLLM runs in. Two settings decide:

- TASKLLM_MODEL_HOSTS_DENY: networks (CIDR) and host names never reached. The default denies link-local
  addresses (169.254.0.0/16, fe80::/10, where clouds serve instance metadata and credentials), the
  metadata host names, and the unspecified addresses (0.0.0.0, ::).
- TASKLLM_MODEL_HOSTS_ALLOW: when not empty, only these networks and host names are reached.

Loopback is allowed by default because a local server (Ollama, vLLM, llama.cpp, TaskLLM's own model
server) on the same machine is a real use; deny 127.0.0.0/8 and ::1 where no such server runs.
Every address the host resolves to is checked, and model calls never follow redirects.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from .client import ModelCallError

# The connection test answers in the web process: short, and retried once.
TEST_TIMEOUT_SECONDS = 10.0
TEST_MAX_RETRIES = 1


class OutboundRefused(ModelCallError):
    """The base URL points somewhere TaskLLM is not allowed to send requests."""


def validate_base_url(url: str) -> None:
    """A base URL is http(s), has a host, and carries no credentials, query or fragment (form, API and service)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter an http:// or https:// URL with a host.")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise ValidationError("A base URL has no query (?…) or fragment (#…): TaskLLM appends /chat/completions.")
    if parts.username or parts.password:
        raise ValidationError("Put credentials in the API key, not in the URL.")


def check_base_url(url: str) -> None:
    """Raise OutboundRefused unless every address of the URL's host may be reached."""
    try:
        validate_base_url(url)
    except ValidationError as exc:
        raise OutboundRefused(exc.messages[0]) from None
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    deny, allow = _rules("TASKLLM_MODEL_HOSTS_DENY"), _rules("TASKLLM_MODEL_HOSTS_ALLOW")
    if _names_match(host, deny):
        raise OutboundRefused(f"Requests to {host} are not allowed (TASKLLM_MODEL_HOSTS_DENY).")
    addresses = _resolve(host)
    for address in addresses:
        if _networks_match(address, deny):
            raise OutboundRefused(f"Requests to {host} ({address}) are not allowed (TASKLLM_MODEL_HOSTS_DENY).")
    if allow and not _names_match(host, allow) and not all(_networks_match(a, allow) for a in addresses):
        raise OutboundRefused(f"{host} is not in TASKLLM_MODEL_HOSTS_ALLOW.")


def _rules(name: str) -> list[str]:
    return [rule.strip().lower() for rule in getattr(settings, name, ()) if rule.strip()]


def _names_match(host: str, rules: list[str]) -> bool:
    names = [rule for rule in rules if not _network(rule)]
    return any(host == name or host.endswith("." + name.lstrip(".")) for name in names)


def _networks_match(address, rules: list[str]) -> bool:
    networks = [network for network in map(_network, rules) if network is not None]
    return any(address.version == network.version and address in network for network in networks)


def _network(rule: str):
    try:
        return ipaddress.ip_network(rule, strict=False)
    except ValueError:
        return None


def _resolve(host: str) -> list:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(f"Could not resolve the host {host}.") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        # An IPv4 address written as IPv6 (::ffff:169.254.169.254) is checked as the IPv4 one.
        mapped = getattr(address, "ipv4_mapped", None)
        addresses.append(mapped or address)
    return addresses
