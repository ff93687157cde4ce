"""Replaces the contributed hook, which copies the metadata of a distribution named `webrtcvad`:
ours is `webrtcvad-wheels` (same module), whose metadata the spec copies."""
