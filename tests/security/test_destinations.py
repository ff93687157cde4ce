import ipaddress

from softswitch.security.destinations import DestinationPolicy


def test_empty_list_allows_everything() -> None:
    assert DestinationPolicy([])("192.0.2.1")


def test_loopback_only_refuses_foreign_addresses_and_names() -> None:
    policy = DestinationPolicy(
        [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    )
    assert policy("127.0.0.1")
    assert policy("127.5.6.7")
    assert policy("::1")
    assert policy("[::1]")
    assert policy("::ffff:127.0.0.1")
    assert not policy("192.0.2.1")
    assert not policy("2001:db8::10")
    assert not policy("example.com")
    assert not policy("::ffff:10.0.0.1")
