"""RTP/RTCP packets and sockets, the relay and the tick-driven media engine."""
