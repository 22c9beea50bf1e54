"""Fixtures of the DICOM-out tests; their helpers live in dicom_out_helpers (a module with a unique name:
``from conftest import`` would pick whichever test folder's conftest was imported first)."""

from dicom_out_helpers import export, small_bundle

__all__ = ["export", "small_bundle"]
