"""The webhook SSRF guard (every refused range, IPv6 forms, numeric spellings, DNS rebinding), signing, and POSTs to
a real local receiver (pinned address, no redirects, timeout)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket

import pytest

from dashboard.alerts import webhooks
from dashboard.alerts.tests.receivers import webhook_receiver
from dashboard.alerts.webhooks import (
    UnsafeWebhookURL,
    refused_reason,
    webhook_body,
    webhook_post,
    webhook_signature,
    webhook_target_resolve,
)

PUBLIC_V4 = "93.184.215.14"


@pytest.fixture(autouse=True)
def _no_allowed_hosts(settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = []


@pytest.fixture
def dns(monkeypatch):
    """Answers for host names, as a resolver would give them (DNS is outside the project); other names fail,
    address literals and localhost resolve for real."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]
            ]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "0.0.0.0/8"),
        ("100.64.0.1", "shared address space"),
        ("192.0.2.1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "global multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:192.168.0.1", "IPv4-mapped private"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
        ("64:ff9b::a9fe:a9fe", "NAT64 of the metadata address"),
        ("64:ff9b::7f00:1", "NAT64 of loopback"),
        ("2002:7f00:1::", "6to4 of loopback"),
        ("2002:c0a8:101::", "6to4 of a private address"),
        ("2001:db8::1", "documentation"),
        ("::127.0.0.1", "IPv4-compatible"),
    ],
)
def test_refused_addresses(address, reason):
    assert refused_reason(ipaddress.ip_address(address)) is not None, reason


@pytest.mark.parametrize("address", [PUBLIC_V4, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert refused_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[fe80::1%25eth0]/",
        "http://[0:0:0:0:0:0:0:1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        # Decimal, octal, hexadecimal and short spellings of IPv4 addresses, as inet_aton reads them.
        "http://2130706433/",
        "http://017700000001/",
        "http://0177.0.0.1/",
        "http://0x7f.0.0.1/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://0/",
        "http://2852039166/latest/meta-data/",
        "http://0251.0376.0251.0376/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://10.1/",
        "http://127.0.0.1./",
        "https://127.0.0.1/",
    ],
)
def test_urls_to_refused_addresses_are_refused(url, dns):
    with pytest.raises(UnsafeWebhookURL, match="resolves to"):
        webhook_target_resolve(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("gopher://hooks.example.com/", "Only http and https"),
        ("javascript:alert(1)", "Only http and https"),
        ("http:///nohost", "no host"),
        ("http://hooks.example.com:99999/", "malformed"),
        ("http://hooks.example.com/a b", "spaces"),
        ("http://unknown.invalid/", "cannot be resolved"),
        ("", "at most"),
        ("http://" + "a" * 2000 + ".com/", "at most"),
        ("http://999.1.1.1/", "not a valid IPv4"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url, message, dns):
    with pytest.raises(UnsafeWebhookURL, match=message):
        webhook_target_resolve(url)


def test_host_resolving_to_any_private_address_is_refused(dns):
    dns["mixed.example.com"] = [PUBLIC_V4, "10.0.0.7"]
    with pytest.raises(UnsafeWebhookURL, match=r"10\.0\.0\.7"):
        webhook_target_resolve("https://mixed.example.com/hook")


def test_host_resolving_to_an_ipv6_private_address_is_refused(dns):
    dns["v6.example.com"] = ["fd00::5"]
    with pytest.raises(UnsafeWebhookURL, match="fd00::5"):
        webhook_target_resolve("https://v6.example.com/hook")


def test_public_host_is_pinned_to_its_checked_address(dns):
    dns["hooks.example.com"] = [PUBLIC_V4]
    target = webhook_target_resolve("https://Hooks.Example.com./in?x=1")
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https",
        "hooks.example.com",
        443,
        "/in?x=1",
        PUBLIC_V4,
    )


def test_allowed_hosts_may_be_private(settings, dns):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["Internal.Example.com", "127.0.0.1"]
    dns["internal.example.com"] = ["10.0.0.9"]
    assert webhook_target_resolve("http://internal.example.com/hook").address == "10.0.0.9"
    assert webhook_target_resolve("http://127.0.0.1:9/hook").address == "127.0.0.1"
    # Only the listed spelling: another name for the same address is still refused.
    with pytest.raises(UnsafeWebhookURL):
        webhook_target_resolve("http://2130706433/hook")


def test_dns_rebinding_is_caught_at_delivery(dns):
    dns["rebind.example.com"] = [PUBLIC_V4]
    webhook_target_resolve("http://rebind.example.com/hook")  # accepted when saved
    dns["rebind.example.com"] = ["127.0.0.1"]
    with pytest.raises(UnsafeWebhookURL, match=r"127\.0\.0\.1"):
        webhook_target_resolve("http://rebind.example.com/hook")  # refused when it is time to deliver


def test_connection_goes_to_the_checked_address_not_a_new_lookup(settings, dns):
    """Resolved once, then pinned: a later answer pointing elsewhere is never used for the connection."""
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["hooks.internal"]
    with webhook_receiver() as receiver:
        dns["hooks.internal"] = ["127.0.0.1"]
        target = webhook_target_resolve(f"http://hooks.internal:{receiver.port}/pinned")
        dns["hooks.internal"] = ["10.255.255.1"]  # would hang or fail if it were looked up again
        status = webhook_post(target=target, body=b"{}", headers={"X-Test": "1"})
    assert status == 200
    (request,) = receiver.requests
    assert request.path == "/pinned"
    assert request.headers["Host"] == f"hooks.internal:{receiver.port}"
    assert request.headers["X-Test"] == "1"


def test_redirect_to_a_private_address_is_not_followed(settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with webhook_receiver(host="127.0.0.2") as private, webhook_receiver() as public:
        public.statuses = [302]
        public.location = f"http://127.0.0.2:{private.port}/stolen"
        status = webhook_post(target=webhook_target_resolve(public.url), body=b"{}", headers={})
    assert status == 302
    assert len(public.requests) == 1
    assert private.requests == []


def test_slow_receiver_times_out(settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with webhook_receiver(delay=1.0) as receiver, pytest.raises(TimeoutError):
        webhook_post(target=webhook_target_resolve(receiver.url), body=b"{}", headers={}, timeout=0.2)


def test_timeout_is_five_seconds():
    assert webhooks.TIMEOUT_SECONDS == 5.0


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = webhook_body({"b": 1, "a": "é"})
    assert body == b'{"a":"\\u00e9","b":1}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook_signature(secret="whsec_x", timestamp=1700000000, body=body) == f"t=1700000000,v1={expected}"
