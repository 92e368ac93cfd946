"""The client IP is the socket peer unless that peer is a trusted proxy (SPEC §3)."""

from __future__ import annotations

from topsmile.core.throttle import client_ip, ip_bucket, ip_throttle_key, throttle_key


def test_peer_is_used_without_trusted_proxies() -> None:
    assert client_ip("203.0.113.9", "198.51.100.1", ()) == "203.0.113.9"


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    assert client_ip("203.0.113.9", "198.51.100.1", ("10.0.0.0/8",)) == "203.0.113.9"


def test_nearest_untrusted_hop_behind_trusted_proxies() -> None:
    trusted = ("10.0.0.0/8", "192.0.2.7")
    # A client may forge the leftmost entries; only hops added by our proxies count.
    chain = "1.1.1.1, 198.51.100.23, 192.0.2.7"
    assert client_ip("10.1.2.3", chain, trusted) == "198.51.100.23"


def test_all_hops_trusted_falls_back_to_the_peer() -> None:
    assert client_ip("10.1.2.3", "10.9.9.9", ("10.0.0.0/8",)) == "10.1.2.3"


def test_garbage_hops_are_not_trusted() -> None:
    assert client_ip("10.1.2.3", "not-an-ip", ("10.0.0.0/8",)) == "not-an-ip"


def test_throttle_keys_never_hold_raw_emails() -> None:
    key = throttle_key("login-fail", "clinic", "ana@example.com")
    assert "ana" not in key
    assert key == throttle_key("login-fail", "clinic", "ana@example.com")
    assert key != throttle_key("login-fail", "clinic", "bob@example.com")


def test_forwarded_for_lines_are_walked_as_one_list() -> None:
    # request_ip joins every X-Forwarded-For line with ","; the proxy's own line is last.
    trusted = ("10.0.0.0/8",)
    assert client_ip("10.1.2.3", "6.6.6.6,203.0.113.7", trusted) == "203.0.113.7"
    assert client_ip("10.1.2.3", "6.6.6.6, 1.1.1.1,203.0.113.7, 10.0.0.9", trusted) == (
        "203.0.113.7"
    )


def test_ipv6_addresses_are_counted_by_their_64() -> None:
    assert ip_bucket("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert ip_bucket("2001:DB8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert ip_bucket("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert ip_throttle_key("login-ip", "2001:db8:1:2::1") == ip_throttle_key(
        "login-ip", "2001:db8:1:2:9::9"
    )
    assert ip_throttle_key("login-ip", "2001:db8:1:2::1") != ip_throttle_key(
        "login-ip", "2001:db8:1:3::1"
    )


def test_ipv4_addresses_are_counted_one_by_one() -> None:
    assert ip_bucket("203.0.113.9") == "203.0.113.9"
    assert ip_bucket("::ffff:203.0.113.9") == "203.0.113.9"  # IPv4-mapped is the IPv4 client
    assert ip_throttle_key("login-ip", "203.0.113.9") != ip_throttle_key("login-ip", "203.0.113.10")
    assert ip_bucket("unknown") == "unknown"
