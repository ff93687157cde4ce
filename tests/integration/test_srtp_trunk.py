"""SRTP toward a trunk end to end: a pjsua2 account on its own TLS port plays the carrier
(certificate trusted by the switch, SRTP mandatory), the trunk says `srtp = "mandatory"`, and a
plain-RTP phone calls out through it. Each side hears the other's tone (FFT), and tshark sees
SRTP on the trunk's leg (every packet 10 bytes longer, its payload noise) and the tone in clear
on the phone's leg.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from peers.pjsua import PjsuaPeer
from running_switch import free_port, start_switch
from test_srtp import Capture, _assert_encrypted, _assert_plain, _call, _legs, capture

from softswitch.certificates import self_signed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

__all__ = ["capture"]  # the tshark fixture of test_srtp, used here by name


def test_a_plain_phone_calls_out_through_an_srtp_mandatory_tls_trunk(
    tmp_path: Path, carrier_port: int, capture: type[Capture]
) -> None:
    carrier_cert, carrier_key = self_signed(tmp_path / "carrier-tls")
    cert, key = self_signed(tmp_path / "switch-tls")
    sw = start_switch(
        tmp_path,
        carrier_port,
        {
            "sip": {"transports": ["udp", "tcp", "tls"]},
            "tls": {
                "port": free_port(),
                "certificate": str(cert),
                "private_key": str(key),
                "ca_file": str(carrier_cert),  # the carrier's certificate is checked
            },
        },
        extensions={"1001": {"record": False}},
        trunks={"carrier": {"transport": "tls", "srtp": "mandatory"}},
    )
    phone = PjsuaPeer("1001", tmp_path)
    carrier = PjsuaPeer("carrier", tmp_path, tls_server=(carrier_cert, carrier_key, carrier_port))
    try:
        carrier.listen("carrier", srtp="mandatory")
        phone.register(sw.sip_port, "1001", "demo-1001")  # plain UDP, plain RTP
        cap = capture(tmp_path / "trunk.pcap", sw.ports.rtp)
        phone_port, carrier_media = _call(tmp_path, sw, phone, carrier, sw.uri("9123"), cap)
    finally:
        phone.close()
        carrier.close()
        sw.stop()
    flows = cap.flows()
    to_phone, from_phone = _legs(flows, phone_port)
    to_carrier, from_carrier = _legs(flows, carrier_media)
    _assert_plain(from_phone, 440.0)
    _assert_encrypted(to_carrier, 440.0)
    _assert_encrypted(from_carrier, 1000.0)
    _assert_plain(to_phone, 1000.0)
