"""Helpers shared by the compatibility tests: the emulator process and the hub's well-known identity."""
