"""Storage-test fixtures: ``fault_proxy`` puts a fault-injecting proxy between the code under test and the emulator."""

from tests.faultproxy import fault_proxy  # noqa: F401  (re-exported so pytest finds the fixture)
