"""Run Debian's svcrack from a chosen source address: `python3 svcrack_from.py ADDR ARGS...`.

svcrack 0.3.3 (Debian 12's sipvicious) accepts `-b BINDINGIP` but its main() never passes it on,
so it binds to every address and the kernel picks 127.0.0.1 toward a switch on 127.0.0.1. This
wrapper makes its sockets bind to ADDR instead, then runs the real /usr/bin/svcrack unchanged.
"""

from __future__ import annotations

import os
import runpy
import socket
import sys

source = sys.argv.pop(1)
_bind = socket.socket.bind


def _bind_to_source(self: socket.socket, address: object) -> None:
    if isinstance(address, tuple) and address[0] in ("", "0.0.0.0"):
        address = (source, *address[1:])
    _bind(self, address)  # type: ignore[arg-type]


socket.socket.bind = _bind_to_source  # type: ignore[method-assign]
# /usr/bin/svcrack links to the entry script beside the package and its metadata.
script = os.path.realpath("/usr/bin/svcrack")
sys.path.insert(0, os.path.dirname(script))
sys.argv[0] = "svcrack"
runpy.run_path(script, run_name="__main__")
