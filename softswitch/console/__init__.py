"""Operator views: the live view of `softswitch run` (the full console comes later)."""
