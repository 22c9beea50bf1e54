"""Typed errors of the PACS client: each says what failed and what to do about it."""

from __future__ import annotations

from engine.errors import RadLensError


class PacsError(RadLensError):
    """Talking to a PACS failed."""


class NodeConfigError(PacsError):
    """A node is unknown, misconfigured, or its spec cannot be parsed."""


class SecretError(PacsError):
    """A password or token could not be found or stored (keyring or environment variable)."""


class PacsConnectionError(PacsError):
    """The PACS could not be reached at all."""


class ConnectionRefusedPacsError(PacsConnectionError):
    """Nothing listens at the host and port (server down, wrong port, firewall rejecting)."""


class PacsTimeoutError(PacsConnectionError):
    """The PACS did not answer in time (firewall dropping packets, wrong host, server hung)."""


class AssociationRejectedError(PacsError):
    """The DIMSE association was rejected (wrong called or calling AE title, unknown to the PACS)."""


class AuthenticationError(PacsError):
    """The DICOMweb server answered 401 or 403 (wrong or missing user/password or token)."""


class CertificateError(PacsConnectionError):
    """TLS certificate verification failed."""


class RetrieveError(PacsError):
    """A retrieval stopped before the study or series was complete."""


class SendError(PacsError):
    """The PACS did not acknowledge an object that was sent (it stays in the outbox)."""
