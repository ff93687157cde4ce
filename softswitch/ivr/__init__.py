"""IVR: flows as data run by a sans-IO interpreter; see docs/architecture.md."""
