"""media/moh.py over real loopback endpoints: one source per class, every listener hears the same
frame, the loop wraps seamlessly, and a leg that stops listening gets nothing more."""

from __future__ import annotations

import numpy as np
from phones import Runner, bridged_call, make_relay

from softswitch.media.engine import MediaEngine
from softswitch.media.engine_leg import LegCodec
from softswitch.media.moh import MusicOnHold
from softswitch_codecs.g711 import ulaw_decode, ulaw_encode

PCMU = LegCodec("PCMU", 0, 101)


def test_every_listener_of_a_class_hears_one_source_and_the_loop_wraps(run: Runner) -> None:
    # 400 samples: two and a half frames, so the third frame crosses the loop's seam.
    track = (np.arange(400, dtype=np.int16) - 200) * 40
    loads: list[str] = []

    def load(name: str) -> list[np.ndarray]:
        loads.append(name)
        return [track]

    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, b, pa, pb = await bridged_call(relay)
        moh = MusicOnHold(load)
        engine.add_processor(moh)
        la, lb = engine.take(a, PCMU), engine.take(b, PCMU)
        moh.listen(la)
        moh.listen(lb)
        for _ in range(3):
            engine.tick(engine.clock())
        assert loads == ["default"] and moh.frames_made == 3  # once per tick, not per leg
        heard_a, heard_b = await pa.recv_rtp(3), await pb.recv_rtp(3)
        assert [p.payload for p in heard_a] == [p.payload for p in heard_b]
        expected = np.resize(track, 480)  # the loop: 400 samples, then its start again
        got = ulaw_decode(np.frombuffer(b"".join(p.payload for p in heard_a), np.uint8))
        assert np.array_equal(got, ulaw_decode(ulaw_encode(expected)))
        moh.stop(la)
        engine.tick(engine.clock())
        (next_b,) = await pb.recv_rtp(1)
        assert moh.listeners == 1 and la.frames_sent == 3 and lb.frames_sent == 4
        assert next_b.payload == ulaw_encode(np.resize(track, 640)[480:]).tobytes()
        await relay.aclose()

    run(main())
