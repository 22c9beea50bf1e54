"""Passwords and tokens of PACS nodes: the OS keyring or an environment variable, never a file.

A node's ``secret`` field says where its secret is: ``"keyring"`` (service :data:`SERVICE`, user
name = the node's name) or ``"env:NAME"`` (the value of environment variable ``NAME``). The value
is read only when a request needs it and is never logged; error messages name where it was looked
for, not what it is.
"""

from __future__ import annotations

import os

from engine.pacs.config import PacsNode
from engine.pacs.errors import SecretError

SERVICE = "radlens-pacs"


def store_in_keyring(node_name: str, value: str) -> None:
    """Put ``value`` into the OS keyring for ``node_name``.

    Raises:
        SecretError: No usable keyring backend (a headless machine): use an environment variable.
    """
    import keyring
    import keyring.errors

    try:
        keyring.set_password(SERVICE, node_name, value)
    except (keyring.errors.KeyringError, RuntimeError) as exc:
        raise SecretError(f"the OS keyring refused to store the secret of PACS node {node_name!r} "
                          f"({type(exc).__name__}).",
                          fix="install/unlock a keyring (Secret Service, KWallet, macOS Keychain) or keep the "
                              "secret in an environment variable: --password-env NAME.") from None


def delete_from_keyring(node_name: str) -> None:
    """Remove the node's secret from the keyring (nothing happens when there is none)."""
    import keyring
    import keyring.errors

    try:
        keyring.delete_password(SERVICE, node_name)
    except (keyring.errors.KeyringError, RuntimeError):
        pass


def secret_of(node: PacsNode) -> str | None:
    """The node's password/token, or None when its auth needs none.

    Raises:
        SecretError: The node needs a secret and it is not where the node says.
    """
    if node.kind != "dicomweb" or node.auth == "none":
        return None
    where = node.secret or "keyring"
    if where.startswith("env:"):
        name = where[4:]
        value = os.environ.get(name)
        if not value:
            raise SecretError(f"PACS node {node.name!r} takes its secret from the environment variable {name}, "
                              "which is not set.", fix=f"export {name}=… before starting RadLens.")
        return value
    import keyring
    import keyring.errors

    try:
        value = keyring.get_password(SERVICE, node.name)
    except (keyring.errors.KeyringError, RuntimeError) as exc:
        raise SecretError(f"the OS keyring could not be read for PACS node {node.name!r} ({type(exc).__name__}).",
                          fix="unlock the keyring, or use an environment variable (--password-env NAME).") from None
    if not value:
        raise SecretError(f"the OS keyring holds no secret for PACS node {node.name!r}.",
                          fix=f"radlens pacs nodes add {node.name} … --password-prompt, or the PACS settings.")
    return value
