"""Fuzzing the SIP parser with hypothesis: a mix of every mutation the property tests know.

`make test` runs a few thousand inputs; the bench's security scenario runs at least 100 000 by
setting SOFTSWITCH_FUZZ_EXAMPLES, and reads how many ran from SOFTSWITCH_FUZZ_REPORT (a JSON
file this test writes). Any exception but the declared RemoteProtocolError fails it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_parser_properties import SEEDS, SPECIAL, _check

EXAMPLES = int(os.environ.get("SOFTSWITCH_FUZZ_EXAMPLES", "2000"))
REPORT = os.environ.get("SOFTSWITCH_FUZZ_REPORT")


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.integers(0, 4))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == 0 and data:  # flip a byte
            data[at] = draw(st.integers(0, 255))
        elif kind == 1:  # insert a delimiter or an odd byte
            data[at:at] = draw(st.sampled_from(SPECIAL))
        elif kind == 2:  # cut
            del data[at:]
        elif kind == 3 and data:  # delete a run
            del data[at : at + draw(st.integers(1, 40))]
        else:  # repeat a run (duplicated headers, long values)
            data[at:at] = data[at : at + draw(st.integers(1, 80))] * draw(st.integers(1, 20))
    return bytes(data)


INPUTS = st.one_of(
    _mutated(),
    st.binary(max_size=2000),
    st.lists(st.sampled_from([*SPECIAL, b"SIP/2.0", b"INVITE ", b"Via:", b"Content-Length: "])).map(
        b"".join
    ),
)


def test_parser_raises_only_the_declared_error() -> None:
    ran = 0
    undeclared: set[bytes] = set()  # inputs that raised anything but RemoteProtocolError
    broken: set[bytes] = set()  # inputs whose parse did not round-trip
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(INPUTS)
    def fuzz(data: bytes) -> None:
        nonlocal ran
        ran += 1
        try:
            _check(data)
        except AssertionError:
            broken.add(data)
            raise
        except Exception:
            undeclared.add(data)
            raise

    try:
        fuzz()
    finally:  # what was counted, also when an input failed (hypothesis re-raises it)
        if REPORT:
            Path(REPORT).write_text(
                json.dumps(
                    {
                        "inputs": ran,
                        "undeclared_exceptions": len(undeclared),
                        "broken_round_trips": len(broken),
                        "seconds": round(time.monotonic() - started, 1),
                    }
                )
            )
    assert ran >= min(EXAMPLES, 100)
