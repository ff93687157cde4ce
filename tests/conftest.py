"""Shared by every test directory: nothing here starts processes (see tests/integration/)."""
