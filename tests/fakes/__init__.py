"""Fakes of the ports, for unit tests of the use cases (fakes, not mocks)."""
