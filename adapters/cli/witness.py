"""Witnesses (``etrack audit witness``): a key kept by someone else cosigns checkpoints that extend what it cosigned."""

from __future__ import annotations

import json
import sys
import time

import click

from engagement_tracker.adapters.audit import (
    init_witness,
    load_public_key,
    load_signing_key,
    read_checkpoint,
    read_json,
    read_witness_state,
    write_text,
)
from engagement_tracker.adapters.bootstrap import audit_service
from engagement_tracker.adapters.cli.files import write_out
from engagement_tracker.adapters.cli.output import err, parse_actor, print_error, refusals
from engagement_tracker.adapters.cli.store import reader
from engagement_tracker.domain.errors import HistoryRewritten, InvalidInput
from engagement_tracker.projections.audit_proofs import note_fields
from engagement_tracker.projections.witness import cosign


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
