"""Witnesses (``etrack audit witness``): a key kept by someone else cosigns checkpoints that extend what it cosigned."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from engagement_tracker.adapters.audit import (
    init_witness,
    load_log_key,
    load_public_key,
    load_signing_key,
    locked,
    read_checkpoint,
    read_json,
    read_policy,
    read_witness_state,
    write_text,
)
from engagement_tracker.adapters.bootstrap import audit_service
from engagement_tracker.adapters.cli.exits import AUDIT_FAULT, USAGE
from engagement_tracker.adapters.cli.output import ACTOR, err, parse_actor, print_error, refusals
from engagement_tracker.adapters.cli.store import reader
from engagement_tracker.adapters.files import write_out
from engagement_tracker.domain.access import require_auditor
from engagement_tracker.domain.errors import HistoryRewritten, InvalidInput, QuorumNotMet, WitnessRefusal
from engagement_tracker.projections.audit_log import DEFAULT_ORIGIN
from engagement_tracker.projections.audit_proofs import note_fields
from engagement_tracker.projections.witness import AddCheckpoint, add_checkpoint, add_log, attach, cosign, parse_add_checkpoint


@click.group()
def witness() -> None:
    """Witnesses: cosign a checkpoint only after checking it extends the last one cosigned."""


@witness.command("init")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="new PEM key (0600)")
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False), help="new state file")
@click.option("--name", default="etrack-witness", show_default=True, help="the witness's name in cosignatures")
def witness_init(key_path: str, state_path: str, name: str) -> None:
    """Make a witness key and its empty state; print its verifier key (for `audit verify --witness-key`)."""
    with refusals():
        click.echo(init_witness(key_path, state_path, name))


@witness.command("cosign")
@click.argument("checkpoint_path", type=click.Path(dir_okay=False))
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False))
@click.option("--key", "key_path", required=True, help="the witness's PEM key")
@click.option("--log-key", default=None, help="the log's public key (hex or file), needed the first time only")
@click.option("--proof", "proof_path", default=None, type=click.Path(dir_okay=False),
              help="a consistency proof from the last size cosigned (`etrack audit consistency`); else --as reads it "
                   "from the store")
@click.option("--as", "actor", envvar="ETRACK_AS", default=None, metavar="ROLE:PARTY_ID",
              help="an auditor, to build the consistency proof from the store (--db)")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="the cosigned checkpoint")
@click.pass_context
def witness_cosign(ctx: click.Context, checkpoint_path: str, state_path: str, key_path: str, log_key: str | None,
                   proof_path: str | None, actor: str | None, out_path: str | None) -> None:
    """Cosign CHECKPOINT if it extends the last checkpoint this witness cosigned for its log; a rewritten
    history is refused (HistoryRewritten, exit 1) and the state is left as it was."""
    with refusals():
        state = read_witness_state(state_path)
        key = load_signing_key(key_path)
        note = str(read_checkpoint(checkpoint_path)["note"])
        _, origin, size, _ = note_fields(note)
        known = state["logs"].get(origin)
        proof: list[bytes] = []
        if known and size > int(known["size"]):
            proof = _proof(ctx, proof_path, actor, int(known["size"]), size)
        try:
            state, cosigned = cosign(state, note, key, int(time.time()), proof, load_public_key(log_key))
        except HistoryRewritten as exc:
            print_error(exc)
            sys.exit(1)
        write_text(state_path, json.dumps(state, indent=2) + "\n")  # kept before the cosignature leaves
        if out_path:
            write_out(out_path, cosigned)
    click.echo(cosigned, nl=False)
    err.print(f"cosigned {origin} at size {size}")


def _proof(ctx: click.Context, proof_path: str | None, actor: str | None, old: int, new: int) -> list[bytes]:
    if proof_path:
        doc = read_json(proof_path, "proof")
        if (doc.get("old_size"), doc.get("new_size")) != (old, new):
            raise InvalidInput("proof", f"expected a proof from size {old} to {new}, got {doc.get('old_size')} to "
                               f"{doc.get('new_size')}")
        try:
            return [bytes.fromhex(p) for p in doc["proof"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("proof", f"malformed proof: {exc}") from None
    if actor is None:
        raise InvalidInput("proof", f"give --proof (a consistency proof from size {old}) or --as auditor:ID to "
                           "build it from the store")
    with reader(ctx) as app:
        doc = audit_service(app).consistency(parse_actor(actor), old, new)
    return [bytes.fromhex(p) for p in doc["proof"]]


# --- c2sp.org/tlog-witness: add-checkpoint from files (the same function an HTTP endpoint will call) -----


@witness.command("add-log")
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False))
@click.option("--log-key", required=True,
              help="the log's verifier key (`etrack audit vkey`: ORIGIN+KEYID+BASE64), or 64 hex chars with --origin")
@click.option("--origin", default=None, help=f"the log's origin when --log-key is hex (e.g. {DEFAULT_ORIGIN})")
def witness_add_log(state_path: str, log_key: str, origin: str | None) -> None:
    """Make a log known to this witness (its origin and key): add-checkpoint answers 404 for any other."""
    with refusals():
        named, key = load_log_key(log_key)
        if origin is not None and named is not None and origin != named:
            raise InvalidInput("origin", f"the verifier key names the log {named!r}, not {origin!r}")
        origin = origin or named
        if not origin:
            raise InvalidInput("origin", "a hex key needs --origin (the log's origin line)")
        with locked(state_path):
            state = add_log(read_witness_state(state_path), origin, key)
            write_text(state_path, json.dumps(state, indent=2) + "\n")
    err.print(f"the witness knows the log {origin}")


@witness.command("request")
@click.argument("checkpoint_path", type=click.Path(dir_okay=False))
@click.option("--old", "old_size", type=click.IntRange(min=0), default=0, show_default=True,
              help="the size the witness last cosigned (a 409 answer says it)")
@ACTOR
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="the request body")
@click.pass_context
def witness_request(ctx: click.Context, checkpoint_path: str, old_size: int, actor: str, out_path: str | None) -> None:
    """The log's side: the add-checkpoint request for CHECKPOINT (`old <size>`, the consistency proof from
    that size, read from the store, an empty line, the checkpoint)."""
    with refusals():
        note = str(read_checkpoint(checkpoint_path)["note"])
        _, _, size, _ = note_fields(note)
        if old_size > size:
            raise InvalidInput("old", f"the old size {old_size} is above the checkpoint's size {size}")
    with reader(ctx) as app, refusals():
        viewer = require_auditor(parse_actor(actor), "request a witness's cosignature", app.held_grants)
        proof = audit_service(app).consistency(viewer, old_size, {"note": note}) if old_size else None
        body = AddCheckpoint(old_size, tuple(bytes.fromhex(p) for p in proof["proof"]) if proof else (), note).body()
        if out_path:
            write_text(out_path, body)
    click.echo(body, nl=False)


@witness.command("add-checkpoint")
@click.argument("request_path", type=click.Path(dir_okay=False))
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False))
@click.option("--key", "key_path", required=True, help="the witness's PEM key")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="also write the checkpoint with this cosignature added")
def witness_add_checkpoint(request_path: str, state_path: str, key_path: str, out_path: str | None) -> None:
    """The witness's side of c2sp.org/tlog-witness add-checkpoint: check REQUEST (a file, `-` for stdin) and
    print the cosignature line (the 200 answer's body). A refusal prints its status and why: 400 malformed,
    403 not signed by the log's key, 404 unknown log, 409 another old size (the latest cosigned size on
    stdout), 422 a fork, rollback or failing proof; exit 2 for 400, else 1. The state is written (under a
    lock) before the cosignature is printed, and left as it was on any refusal."""
    with refusals():
        key = load_signing_key(key_path)
        try:
            raw = sys.stdin.buffer.read() if request_path == "-" else Path(request_path).read_bytes()
        except OSError as exc:
            raise InvalidInput("request", f"cannot read {request_path}: {exc.strerror}") from None
        with locked(state_path):
            state = read_witness_state(state_path)
            try:
                request = parse_add_checkpoint(raw)
                state, response = add_checkpoint(state, request, key, int(time.time()))
            except WitnessRefusal as exc:
                print_error(exc)
                err.print(f"status {exc.status}")
                if exc.latest_size is not None:
                    click.echo(exc.latest_size)
                sys.exit(USAGE if exc.status == 400 else AUDIT_FAULT)
            write_text(state_path, json.dumps(state, indent=2) + "\n")  # kept before the cosignature leaves
        if out_path:
            write_text(out_path, attach(request.note, response))
    click.echo(response, nl=False)


# --- c2sp.org/tlog-witness over HTTP: a witness that answers, a log that pushes -------------------------


@witness.command("serve")
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False))
@click.option("--key", "key_path", required=True, help="the witness's PEM key")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8089, show_default=True, help="0: any free port")
def witness_serve(state_path: str, key_path: str, host: str, port: int) -> None:
    """Answer c2sp.org/tlog-witness over HTTP: `POST /add-checkpoint` (200 and the cosignature line, or 400,
    403, 404, 409 with the latest size, 422 for a fork, rollback or failing proof) and `GET /<origin
    hash>/checkpoint` (the latest cosigned). Stops on SIGTERM or Ctrl-C once requests in flight are answered."""
    from engagement_tracker.adapters.witness_http import WitnessEndpoint, serve_witness

    with refusals():
        endpoint = WitnessEndpoint(state_path, load_signing_key(key_path))
        try:
            serve_witness(endpoint, host, port,
                          ready=lambda url: err.print(f"witness {endpoint.name} answering at {url}/add-checkpoint"))
        except OSError as exc:
            raise InvalidInput("port", f"cannot listen on {host}:{port}: {exc.strerror}") from None


@witness.command("push")
@click.argument("checkpoint_path", type=click.Path(dir_okay=False))
@click.option("--policy", "policy_path", required=True, type=click.Path(dir_okay=False),
              help="a c2sp.org/tlog-policy file whose `witness` lines give each witness's URL")
@ACTOR
@click.option("--timeout", type=click.FloatRange(min=0.1, max=300), default=10.0, show_default=True,
              help="seconds to wait for each witness")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="the checkpoint with every cosignature gathered (written only when the quorum is met)")
@click.pass_context
def witness_push(ctx: click.Context, checkpoint_path: str, policy_path: str, actor: str, timeout: float,
                 out_path: str | None) -> None:
    """The log's side of c2sp.org/tlog-witness: send CHECKPOINT to every witness of the policy that has a URL
    (with the consistency proof from the size each last cosigned, read from the store), keep each
    cosignature that verifies under the policy's key, and print the cosigned checkpoint. Exit 1 (and no
    --out) when the cosignatures gathered do not meet the policy's quorum; each witness's answer is on stderr."""
    from engagement_tracker.adapters.witness_http import push_checkpoint

    with refusals():
        policy = read_policy(policy_path)
        note = str(read_checkpoint(checkpoint_path)["note"])
        _, origin, size, _ = note_fields(note)
        reachable = [(name, policy.witness_urls[name], *policy.witnesses[name])
                     for name in policy.witnesses if name in policy.witness_urls]
        if not reachable:
            raise InvalidInput("policy", "no witness line gives a URL (`witness <name> <vkey> <url>`): "
                               "nobody to push to")
    with reader(ctx) as app, refusals():
        viewer = require_auditor(parse_actor(actor), "push a checkpoint to witnesses", app.held_grants)
        audit = audit_service(app)

        def request_body(old: int) -> str:
            if old > size:
                return AddCheckpoint(old, (), note).body()  # the witness refuses it (400): it is ahead of this log
            proof = audit.consistency(viewer, old, {"note": note}) if old else None
            return AddCheckpoint(old, tuple(bytes.fromhex(p) for p in proof["proof"]) if proof else (), note).body()

        cosigned, answers = push_checkpoint(note, reachable, request_body, timeout)
    said = "; ".join(f"{a.witness} ({a.url}): {a.outcome}, {a.detail}" for a in answers)
    if not policy.satisfied(policy.cosigners(cosigned)):  # one error line, each witness's answer in it
        print_error(QuorumNotMet(f"{origin} at size {size}: the cosignatures gathered "
                                 f"({', '.join(policy.cosigners(cosigned)) or 'none'}) do not meet the policy's "
                                 f"quorum {policy.quorum!r}; nothing written. The witnesses answered: {said}"))
        sys.exit(AUDIT_FAULT)
    for answered in answers:
        err.print(f"{answered.witness} ({answered.url}): {answered.outcome}, {answered.detail}", markup=False)
    if out_path:
        with refusals():
            write_out(out_path, cosigned)
    click.echo(cosigned, nl=False)
