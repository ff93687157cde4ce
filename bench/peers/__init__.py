"""The systems the bench runs side by side, by the name `--peers` takes."""

from bench.peers.base import Peer, PeerError
from bench.peers.kamailio import Kamailio, KamailioRtpengine
from bench.peers.rtpengine import Rtpengine
from bench.peers.sippy import Sippy
from bench.peers.softswitch import RecordingSoftswitch, Softswitch

PEERS: dict[str, type[Peer]] = {
    peer.name: peer
    for peer in (Softswitch, RecordingSoftswitch, Kamailio, KamailioRtpengine, Rtpengine, Sippy)
}

__all__ = ["PEERS", "Peer", "PeerError"]
