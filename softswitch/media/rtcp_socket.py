"""A media endpoint's RTCP socket (media/endpoint.py's `_Socket`, which relays or delivers it)
that also keeps the phone's first and last receiver report about the switch's stream, for the
leg's figures in the CDR and /metrics (media/quality.py)."""

from __future__ import annotations

from collections.abc import Callable

from softswitch.media.endpoint import _NO_SSRC, Address, _RtpSocket, _Socket
from softswitch.media.quality import Report, report_of


class RtcpSocket(_Socket):
    """The RTCP socket: also keeps the phone's first and last report about our stream (RTCP is
    a packet every few seconds, so it is parsed as it comes)."""

    __slots__ = ("first_report", "last_report", "rtp")

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        super().__init__(allowed)
        self.rtp: _RtpSocket | None = None  # the pair's RTP socket, whose stream is reported
        self.first_report: Report | None = None
        self.last_report: Report | None = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        rtp = self.rtp
        # Before our stream has an SSRC there is nothing to report on: a phone's early blocks
        # (all zeros) would make the first report of the span.
        if (
            (addr == self.peer or self.peer is None)
            and rtp is not None
            and rtp.out_ssrc != _NO_SSRC
        ):
            report = report_of(data, rtp.out_ssrc)
            if report is not None:
                if self.first_report is None:
                    self.first_report = report
                self.last_report = report
        super().datagram_received(data, addr)
