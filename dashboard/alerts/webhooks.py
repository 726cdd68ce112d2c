"""Outgoing webhooks: where a URL may point (the SSRF guard), signing, and one POST to the address that was checked.

A URL is resolved once and every address it resolves to must be public, unless its host is listed in
``ALERTS_WEBHOOK_ALLOWED_HOSTS``. The connection then goes to that checked address (pinned), never to a second lookup,
so a DNS answer that changes between the check and the connection (rebinding) cannot redirect it. Redirects are never
followed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

TIMEOUT_SECONDS = 5.0
MAX_URL_LENGTH = 2000
USER_AGENT = "Dashboard-Webhooks/1.0"
# inet_aton's spellings of IPv4 (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1, short 127.1): read them as the C
# library does, so what is checked is what a client would connect to.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = ipaddress.ip_address("169.254.169.254")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookURL(Exception):
    """The URL is not http(s), does not resolve, or resolves to an address webhooks may not reach."""


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL: connect to ``address`` (pinned), send ``Host: host`` and, for https, verify ``host``."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def refused_reason(address: IPAddress) -> str | None:
    """Why webhooks may not reach *address* (``None``: a public address). IPv6 forms that embed an IPv4 address
    (mapped, NAT64, 6to4, Teredo) are judged by the IPv4 address too."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 address a.b.c.d on a dual-stack socket
            return refused_reason(address.ipv4_mapped)
        embedded = [address.sixtofour, *(address.teredo or ())]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        for inner in embedded:
            if inner is not None and (reason := refused_reason(inner)):
                return f"{reason} (embedded in {address})"
    if address == _METADATA:
        return "the cloud metadata address"
    for flag, reason in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
        ("is_site_local", "a site-local address"),
    ):
        if getattr(address, flag, False):
            return reason
    if not address.is_global:
        return "not a public address"
    return None


def _allowed_host(host: str) -> bool:
    allowed = {name.strip().lower().rstrip(".") for name in settings.ALERTS_WEBHOOK_ALLOWED_HOSTS if name.strip()}
    return host in allowed


def _addresses(host: str, port: int) -> list[IPAddress]:
    if _NUMERIC_HOST.match(host):
        try:
            return [ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))]
        except OSError:
            raise UnsafeWebhookURL(f"{host!r} is not a valid IPv4 address.") from None
    try:
        return [ipaddress.ip_address(host.split("%", 1)[0])]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeWebhookURL(f"The host {host!r} cannot be resolved.") from None
    addresses = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeWebhookURL(f"The host {host!r} cannot be resolved.")
    return addresses


def webhook_target_resolve(url: object) -> WebhookTarget:
    """Check *url* and resolve its host; raises :class:`UnsafeWebhookURL` with a message fit for the URL's owner."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookURL(f"Enter an http or https URL of at most {MAX_URL_LENGTH} characters.")
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise UnsafeWebhookURL("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeWebhookURL("The URL is malformed.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeWebhookURL("Only http and https URLs are allowed.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeWebhookURL("The URL has no host.")
    port = port or (443 if scheme == "https" else 80)
    addresses = _addresses(host, port)
    if not _allowed_host(host):
        for address in addresses:
            if reason := refused_reason(address):
                raise UnsafeWebhookURL(
                    f"The host {host!r} resolves to {address}, {reason}; webhooks need a public one."
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return WebhookTarget(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))


def webhook_body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: WebhookTarget, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: WebhookTarget, timeout: float):
        context = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._ssl_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)


def webhook_post(*, target: WebhookTarget, body: bytes, headers: dict[str, str], timeout: float | None = None) -> int:
    """POST *body* to the checked address of *target* and return the status code; redirects are not followed.
    Network failures raise ``OSError`` (timeouts included) or ``http.client.HTTPException``."""
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, TIMEOUT_SECONDS if timeout is None else timeout)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        return response.status
    finally:
        connection.close()
