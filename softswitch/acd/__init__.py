"""Automatic call distribution: pure decisions with an injected clock.

The call layer feeds call and agent events into `Engine` with the current time and carries
out the events it returns (ring an agent, bridge, dial a callback, send a caller elsewhere).
Nothing in this package does I/O: no asyncio, sockets, sqlite3 or clock.
"""
