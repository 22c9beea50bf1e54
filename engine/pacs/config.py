"""PACS nodes and where RadLens keeps them: ``pacs.json`` beside the viewer's ``settings.json``.

The file is ``$RADLENS_SETTINGS``'s folder / ``pacs.json`` when that variable is set, else
``$XDG_CONFIG_HOME/radlens/pacs.json`` (``~/.config/radlens/pacs.json``). It is written atomically
and holds no password or token: a node names where its secret is (the OS keyring, or an
environment variable by *name*), see :mod:`engine.pacs.secrets`. Document::

    {"schema_version": 1,
     "nodes": {"hospital": {"kind": "dimse", "ae_title": "PACS", "host": "127.0.0.1", "port": 4242,
                            "our_ae_title": "RADLENS"},
               "orthanc-web": {"kind": "dicomweb", "base_url": "https://127.0.0.1:8443/dicom-web",
                               "auth": "basic", "username": "reader", "secret": "keyring"}},
     "storage_scp": {"ae_title": "RADLENS", "host": "127.0.0.1", "port": 11112}}

A node spec on the command line is a configured name or a URL: ``dicomweb+https://HOST:PORT/PATH``
(``dicomweb+http://…`` too) or ``dimse://AET@HOST:PORT``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from engine.atomic import atomic_write_text
from engine.pacs.errors import NodeConfigError

SCHEMA_VERSION = 1
DEFAULT_AE_TITLE = "RADLENS"
DEFAULT_SCP_PORT = 11112
Kind = Literal["dimse", "dicomweb"]
Auth = Literal["none", "basic", "bearer"]
Method = Literal["wadors", "cget", "cmove"]
_AE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # 16 chars of the default repertoire, no backslash


def config_dir() -> Path:
    """The user's RadLens config folder (the viewer's ``settings.json`` lives there too)."""
    env = os.environ.get("RADLENS_SETTINGS")
    if env:
        return Path(env).parent
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "radlens"


def cache_dir() -> Path:
    """Where retrieved studies go by default: ``$RADLENS_CACHE`` or ``$XDG_CACHE_HOME/radlens/pacs``."""
    env = os.environ.get("RADLENS_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "radlens" / "pacs"


def outbox_dir() -> Path:
    """The default outbox: ``outbox/`` in the config folder (user data: never a cache, never lost)."""
    return config_dir() / "outbox"


@dataclass(frozen=True)
class PacsNode:
    """One PACS, reached by DIMSE or by DICOMweb.

    Attributes:
        name: The node's name (also the keyring user name of its secret).
        kind: ``"dimse"`` or ``"dicomweb"``.
        ae_title: DIMSE: the PACS's (called) AE title.
        host: DIMSE: host name or address.
        port: DIMSE: port (104 or 11112 usually).
        our_ae_title: DIMSE: RadLens's (calling) AE title; the PACS must know it for C-MOVE/C-GET.
        base_url: DICOMweb: the service root, e.g. ``https://HOST:PORT/dicom-web``.
        auth: DICOMweb: ``"none"``, ``"basic"`` (username + password) or ``"bearer"`` (token).
        username: DICOMweb basic auth user name (not a secret).
        secret: Where the password/token is: ``"keyring"`` or ``"env:VARIABLE_NAME"``; never the value.
        verify_tls: Verify the server's TLS certificate (on by default; off only for a test server).
        ca_bundle: A CA bundle file to verify against (a hospital's own CA), or None for the system's.
        timeout_s: Connection/answer timeout in seconds.
    """

    name: str
    kind: Kind
    ae_title: str = ""
    host: str = ""
    port: int = 0
    our_ae_title: str = DEFAULT_AE_TITLE
    base_url: str = ""
    auth: Auth = "none"
    username: str = ""
    secret: str = ""
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        where = f"PACS node {self.name!r}"
        if self.kind == "dimse":
            for label, aet in (("AE title", self.ae_title), ("our AE title", self.our_ae_title)):
                if not _AE_RE.match(aet) or not aet.strip():
                    raise NodeConfigError(f"{where}: {label} {aet!r} is not a valid AE title.",
                                          fix="use 1 to 16 characters, no backslash (e.g. ORTHANC).")
            if not self.host or not 0 < int(self.port) < 65536:
                raise NodeConfigError(f"{where}: host {self.host!r} / port {self.port!r} are not usable.",
                                      fix="give a host name and a port from 1 to 65535.")
        elif self.kind == "dicomweb":
            scheme = urlsplit(self.base_url).scheme
            if scheme not in ("http", "https") or not urlsplit(self.base_url).hostname:
                raise NodeConfigError(f"{where}: base URL {self.base_url!r} is not an http(s) URL.",
                                      fix="give the service root, e.g. https://HOST:PORT/dicom-web.")
            if urlsplit(self.base_url).password:
                raise NodeConfigError(f"{where}: the base URL carries a password.",
                                      fix="remove it from the URL; store it with --password-keyring or --password-env.")
            if self.auth not in ("none", "basic", "bearer"):
                raise NodeConfigError(f"{where}: auth {self.auth!r} is not none, basic or bearer.")
            if self.auth == "basic" and not self.username:
                raise NodeConfigError(f"{where}: basic auth needs a user name.", fix="set --username.")
        else:
            raise NodeConfigError(f"{where}: kind {self.kind!r} is not 'dimse' or 'dicomweb'.")
        if self.secret and not (self.secret == "keyring" or self.secret.startswith("env:")):
            raise NodeConfigError(f"{where}: secret {self.secret!r} is neither 'keyring' nor 'env:NAME'.",
                                  fix="secrets are never stored in the settings file.")

    def describe(self) -> str:
        """One line naming the node without any secret."""
        if self.kind == "dimse":
            return f"{self.name}: DIMSE {self.ae_title}@{self.host}:{self.port} (we are {self.our_ae_title})"
        tls = "" if self.base_url.startswith("http:") else (" TLS verified" if self.verify_tls else " TLS NOT verified")
        return f"{self.name}: DICOMweb {self.base_url} auth={self.auth}{tls}"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("name")
        return doc

    @classmethod
    def from_json(cls, name: str, doc: dict[str, Any]) -> PacsNode:
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise NodeConfigError(f"PACS node {name!r} has unknown keys {unknown}.",
                                  fix=f"known keys: {sorted(known)}.")
        return cls(name=name, **doc)


@dataclass(frozen=True)
class StorageScp:
    """RadLens's own storage SCP, the destination of C-MOVE (the PACS must know ae_title, host and port).

    It listens on loopback unless configured otherwise: a PACS on another machine needs ``host`` set
    to the workstation's own address (``radlens pacs scp --host ADDR``, *Nodes…*), a deliberate choice.
    """

    ae_title: str = DEFAULT_AE_TITLE
    host: str = "127.0.0.1"
    port: int = DEFAULT_SCP_PORT


@dataclass
class PacsConfig:
    """The nodes and the storage SCP, loaded from and saved to ``path``."""

    path: Path
    nodes: dict[str, PacsNode] = field(default_factory=dict)
    storage_scp: StorageScp = field(default_factory=StorageScp)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> PacsConfig:
        """Read the file (a missing file means no nodes yet).

        Raises:
            NodeConfigError: The file is not JSON, or a node in it is invalid.
        """
        target = Path(path) if path is not None else config_dir() / "pacs.json"
        if not target.exists():
            return cls(path=target)
        try:
            doc = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NodeConfigError(f"cannot read the PACS configuration: {exc}", path=target,
                                  fix="fix the JSON or move the file away to start again.") from exc
        if not isinstance(doc, dict) or int(doc.get("schema_version", 0)) > SCHEMA_VERSION:
            raise NodeConfigError("the PACS configuration is not a RadLens pacs.json of a known version.",
                                  path=target, fix="move the file away to start again.")
        nodes = {name: PacsNode.from_json(name, spec) for name, spec in dict(doc.get("nodes", {})).items()}
        scp = StorageScp(**doc.get("storage_scp", {}))
        return cls(path=target, nodes=nodes, storage_scp=scp)

    def save(self) -> Path:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "nodes": {name: node.to_json() for name, node in sorted(self.nodes.items())},
            "storage_scp": asdict(self.storage_scp),
        }
        atomic_write_text(self.path, json.dumps(doc, indent=2) + "\n")
        return self.path

    def add(self, node: PacsNode) -> None:
        self.nodes[node.name] = node

    def remove(self, name: str) -> PacsNode:
        try:
            return self.nodes.pop(name)
        except KeyError:
            raise NodeConfigError(f"no PACS node is named {name!r}.", fix=self._known()) from None

    def _known(self) -> str:
        names = ", ".join(sorted(self.nodes)) or "none yet"
        return f"configured nodes: {names}; or give a URL dicomweb+https://HOST:PORT/PATH or dimse://AET@HOST:PORT."

    def resolve(self, spec: str | PacsNode) -> PacsNode:
        """A configured node's name or a URL spec -> the node (see :func:`parse_node_spec`)."""
        if isinstance(spec, PacsNode):
            return spec
        if spec in self.nodes:
            return self.nodes[spec]
        if "://" in spec:
            return parse_node_spec(spec, our_ae_title=self.storage_scp.ae_title)
        raise NodeConfigError(f"no PACS node is named {spec!r}.", fix=self._known())


def parse_node_spec(spec: str, our_ae_title: str = DEFAULT_AE_TITLE) -> PacsNode:
    """``dicomweb+http(s)://HOST:PORT/PATH`` or ``dimse://AET@HOST:PORT`` -> a node named ``spec``.

    A DICOMweb URL may name a user (``dicomweb+https://USER@HOST/PATH``): basic auth with the
    password from the environment variable ``RADLENS_PACS_PASSWORD``; a password in the URL is refused.

    Raises:
        NodeConfigError: The spec is neither form.
    """
    parts = urlsplit(spec)
    if parts.scheme in ("dicomweb+http", "dicomweb+https"):
        if parts.password:
            raise NodeConfigError(f"node URL {_redact(spec)!r} carries a password.",
                                  fix="put it in RADLENS_PACS_PASSWORD (or configure the node) instead.")
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        base = urlunsplit((parts.scheme.removeprefix("dicomweb+"), netloc, parts.path.rstrip("/"), "", ""))
        if parts.username:
            return PacsNode(name=spec, kind="dicomweb", base_url=base, auth="basic", username=parts.username,
                            secret="env:RADLENS_PACS_PASSWORD")
        return PacsNode(name=spec, kind="dicomweb", base_url=base)
    if parts.scheme == "dimse":
        if not parts.username or not parts.hostname or not parts.port:
            raise NodeConfigError(f"node URL {spec!r} lacks the AE title, host or port.",
                                  fix="write dimse://AET@HOST:PORT, e.g. dimse://ORTHANC@127.0.0.1:4242.")
        return PacsNode(name=spec, kind="dimse", ae_title=parts.username, host=parts.hostname, port=parts.port,
                        our_ae_title=our_ae_title)
    raise NodeConfigError(f"{spec!r} is not a node URL RadLens understands.",
                          fix="write dicomweb+https://HOST:PORT/PATH or dimse://AET@HOST:PORT, or a configured name.")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@")


def with_changes(node: PacsNode, **changes: Any) -> PacsNode:
    """A copy of ``node`` with fields changed (validated again)."""
    return replace(node, **changes)
