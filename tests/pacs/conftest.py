"""Fixtures of the PACS tests (a real Orthanc on loopback); their helpers live in pacs_helpers (a module
with a unique name: ``from conftest import`` would pick whichever test folder's conftest came first)."""

from pacs_helpers import config, fresh_orthanc, memory_keyring, orthanc

__all__ = ["config", "fresh_orthanc", "memory_keyring", "orthanc"]
