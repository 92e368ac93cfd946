"""The client IP is the socket peer unless that peer is a trusted proxy (SPEC §3)."""

from __future__ import annotations

from topsmile.core.throttle import client_ip, throttle_key


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
