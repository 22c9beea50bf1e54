"""The report-export plugin tests use the shared fake host."""

from __future__ import annotations

from fake_host import FakeHost, FakeSettings

__all__ = ["FakeHost", "FakeSettings"]
