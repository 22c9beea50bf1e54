"""``radlens pacs``: test, query, retrieve from and send to a PACS (DIMSE or DICOMweb), headless.

Fixed names (scripts rely on them)::

    radlens pacs echo NODE
    radlens pacs find NODE [--patient-id ID] [--date FROM-TO] [--modality M]
    radlens pacs get NODE --study UID [--series UID] --out DIR
    radlens pacs send NODE FILE…

NODE is a configured node's name or a URL: ``dicomweb+http(s)://HOST:PORT/PATH`` or
``dimse://AET@HOST:PORT``. Also: ``radlens pacs nodes add/list/remove``, ``radlens pacs scp`` (our
storage SCP for C-MOVE) and ``radlens pacs outbox [--retry]``. See docs/pacs.md.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's arguments."""
    parser.add_argument("--config", type=Path, help="the PACS configuration file (default: pacs.json beside the "
                        "viewer's settings.json, in the user's config folder)")
    sub = parser.add_subparsers(dest="pacs_command", metavar="ACTION")

    p = sub.add_parser("echo", help="test the connection (C-ECHO or a QIDO search); says what failed")
    p.add_argument("node", help="configured name, dicomweb+https://HOST:PORT/PATH or dimse://AET@HOST:PORT")

    p = sub.add_parser("find", help="search studies (and list their series with image counts)")
    p.add_argument("node")
    p.add_argument("--patient-id", default="")
    p.add_argument("--patient-name", default="", help="DICOM name, * wildcards allowed (e.g. 'DOE^J*')")
    p.add_argument("--date", default="", help="study date or range: YYYYMMDD, FROM-TO, FROM- or -TO")
    p.add_argument("--modality", default="")
    p.add_argument("--accession", default="")
    p.add_argument("--series", action="store_true", help="also list each study's series with image counts")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("get", help="retrieve a study or series into a folder")
    p.add_argument("node")
    p.add_argument("--study", required=True, help="Study Instance UID")
    p.add_argument("--series", help="Series Instance UID (default: the whole study)")
    p.add_argument("--out", required=True, type=Path, help="folder; files go to OUT/<study>/<series>/<sop>.dcm")
    p.add_argument("--method", choices=("wadors", "cget", "cmove"),
                   help="default: wadors for DICOMweb nodes, cget for DIMSE nodes; cmove needs our storage SCP "
                        "(radlens pacs scp) known to the PACS")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("send", help="send DICOM files (STOW-RS or C-STORE) through the outbox")
    p.add_argument("node")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="DICOM files or folders (*.dcm inside)")
    p.add_argument("--outbox", type=Path, help="outbox folder (default: outbox/ in the user's config folder)")

    p = sub.add_parser("outbox", help="list what waits to be sent; --retry sends it")
    p.add_argument("--retry", action="store_true")
    p.add_argument("--outbox", type=Path)

    nodes = sub.add_parser("nodes", help="add, list or remove configured PACS nodes")
    nsub = nodes.add_subparsers(dest="nodes_command", metavar="ACTION")
    nsub.add_parser("list", help="list configured nodes (no secrets)")
    p = nsub.add_parser("remove", help="remove a node (and its secret from the keyring)")
    p.add_argument("name")
    p = nsub.add_parser("add", help="add or replace a node")
    p.add_argument("name")
    p.add_argument("url", help="dimse://AET@HOST:PORT or dicomweb+https://HOST:PORT/PATH")
    p.add_argument("--our-ae-title", help="our (calling) AE title for this DIMSE node (default: the SCP's)")
    p.add_argument("--auth", choices=("none", "basic", "bearer"), default=None)
    p.add_argument("--username", default="")
    secret = p.add_mutually_exclusive_group()
    secret.add_argument("--password-prompt", action="store_true", help="ask for the password/token (OS keyring)")
    secret.add_argument("--password-stdin", action="store_true", help="read the password/token from standard input; "
                        "kept in the OS keyring")
    secret.add_argument("--password-env", metavar="NAME", help="take the password/token from environment variable NAME "
                        "(only the name is stored)")
    p.add_argument("--no-verify-tls", action="store_true", help="skip TLS verification (test servers only)")
    p.add_argument("--ca-bundle", help="CA bundle file to verify the server's certificate against")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")

    p = sub.add_parser("scp", help="show or set our storage SCP (the C-MOVE destination)")
    p.add_argument("--ae-title")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; for a PACS elsewhere, this machine's "
                   "own address)")
    p.add_argument("--port", type=int)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the action."""
    from engine import pacs

    config = pacs.PacsConfig.load(args.config)
    action = args.pacs_command
    if action is None:
        print("radlens pacs: give an action: echo, find, get, send, outbox, nodes, scp (see --help)", file=sys.stderr)
        return 2
    handler = {"echo": _echo, "find": _find, "get": _get, "send": _send, "outbox": _outbox, "nodes": _nodes,
               "scp": _scp}[action]
    return int(handler(args, config))


def _echo(args: argparse.Namespace, config: Any) -> int:
    from engine import pacs

    node = pacs.echo(args.node, config)
    print(f"OK  {node.describe()}")
    return 0


def _find(args: argparse.Namespace, config: Any) -> int:
    from engine import pacs

    lo, hi = pacs.parse_date_range(args.date)
    query = pacs.StudyQuery(patient_id=args.patient_id, patient_name=args.patient_name, date_from=lo, date_to=hi,
                            modality=args.modality, accession=args.accession, limit=args.limit)
    node = pacs.resolve_node(args.node, config)
    studies = pacs.find_studies(node, query)
    series = {s.study_uid: pacs.find_series(node, s.study_uid) for s in studies} if args.series else {}
    if args.json:
        doc = [{**asdict(s), "series": [asdict(x) for x in series.get(s.study_uid, [])]} for s in studies]
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} on {node.name}")
    for s in studies:
        count = f"{s.n_instances} images" if s.n_instances is not None else "? images"
        print(f"{s.study_date or '--------'}  {s.patient_id:16s} {s.patient_name:20s} {'/'.join(s.modalities):6s} "
              f"{count:>10s}  {s.study_uid}  {s.description}")
        for x in series.get(s.study_uid, []):
            n = f"{x.n_instances} images" if x.n_instances is not None else "? images"
            print(f"    series {x.number if x.number is not None else '-':>3}  {x.modality:4s} {n:>10s}  "
                  f"{x.series_uid}  {x.description}")
    return 0


def _get(args: argparse.Namespace, config: Any) -> int:
    from engine import pacs

    def progress(done: int, total: int | None, message: str) -> None:
        if not args.quiet:
            print(f"  {done}/{total if total is not None else '?'}  {message}", file=sys.stderr)

    result = pacs.retrieve(args.node, args.study, args.series, out=args.out, method=args.method,
                           progress=progress, config=config)
    label = {"wadors": "WADO-RS", "cget": "C-GET", "cmove": "C-MOVE"}.get(result.method, result.method)
    print(f"{len(result.files)} instance(s) retrieved by {label} in {result.seconds:.1f} s "
          f"into {result.folder}")
    return 0


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out += sorted(q for q in p.rglob("*.dcm") if q.is_file()) if p.is_dir() else [p]
    return out


def _send(args: argparse.Namespace, config: Any) -> int:
    from engine import pacs

    box = pacs.Outbox(args.outbox)
    report = pacs.send_files(args.node, _expand(args.files), outbox=box, config=config)
    print(f"{len(report.sent)} object(s) sent to {report.node}")
    if report.pending:
        print(f"{len(report.pending)} object(s) wait in the outbox {box.node_folder(report.node)}: {report.error}\n"
              "They are sent by the next `radlens pacs send` to this node or by `radlens pacs outbox --retry`.",
              file=sys.stderr)
        return 1
    return 0


def _outbox(args: argparse.Namespace, config: Any) -> int:
    from engine import pacs

    box = pacs.Outbox(args.outbox)
    if args.retry:
        reports = pacs.retry_outbox(box, config)
        for r in reports:
            print(f"{r.node}: {len(r.sent)} sent, {len(r.pending)} pending" + (f" ({r.error})" if r.error else ""))
        return 1 if any(r.pending for r in reports) else 0
    items = box.pending()
    print(f"{len(items)} object(s) pending in {box.folder}")
    for item in items:
        print(f"  {item.node}  {item.sop_uid}" + (f"  last error: {item.last_error}" if item.last_error else ""))
    return 0


def _nodes(args: argparse.Namespace, config: Any) -> int:
    from engine import pacs
    from engine.pacs import secrets

    if args.nodes_command in (None, "list"):
        for node in config.nodes.values():
            print(node.describe())
        if not config.nodes:
            print(f"no nodes configured ({config.path})")
        return 0
    if args.nodes_command == "remove":
        config.remove(args.name)
        secrets.delete_from_keyring(args.name)
        config.save()
        print(f"removed {args.name}")
        return 0
    parsed = pacs.parse_node_spec(args.url, our_ae_title=args.our_ae_title or config.storage_scp.ae_title)
    changes: dict[str, Any] = {"name": args.name, "timeout_s": args.timeout}
    if parsed.kind == "dicomweb":
        auth = args.auth or ("basic" if args.username or parsed.username else "none")
        changes.update(auth=auth, username=args.username or parsed.username, verify_tls=not args.no_verify_tls,
                       ca_bundle=args.ca_bundle)
        if auth != "none":
            changes["secret"] = f"env:{args.password_env}" if args.password_env else "keyring"
    node = pacs.PacsNode(**{**asdict(parsed), **changes})
    if node.kind == "dicomweb" and node.auth != "none" and not args.password_env:
        if args.password_stdin:
            value = sys.stdin.readline().rstrip("\n")
        elif args.password_prompt:
            value = getpass.getpass(f"{'Token' if node.auth == 'bearer' else 'Password'} for {node.name}: ")
        else:
            value = ""
        if value:
            secrets.store_in_keyring(node.name, value)
        else:
            print("note: no secret given; store one with --password-prompt or use --password-env NAME", file=sys.stderr)
    config.add(node)
    path = config.save()
    print(f"saved {node.describe()} to {path}")
    return 0


def _scp(args: argparse.Namespace, config: Any) -> int:
    from dataclasses import replace

    if args.ae_title or args.host or args.port:
        changes = {k: v for k, v in (("ae_title", args.ae_title), ("host", args.host), ("port", args.port)) if v}
        config.storage_scp = replace(config.storage_scp, **changes)
        config.save()
    scp = config.storage_scp
    print(f"storage SCP: AE title {scp.ae_title}, listening on {scp.host}:{scp.port} "
          "(the PACS must know this AE title, our host and this port for C-MOVE)")
    return 0
