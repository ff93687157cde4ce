"""softswitch: a SIP/RTP softswitch with a built-in call centre, in one asyncio process."""

__version__ = "0.1.0"
