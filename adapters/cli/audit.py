"""Auditors and admins: the audit trail (keygen, checkpoint, verify, export), replay, erasure."""

from __future__ import annotations

import json
import os
import sys
from uuid import UUID

import click

from engagement_tracker.adapters.audit import (
    generate_signing_key,
    load_public_key,
    load_signing_key,
    load_witness_keys,
    published_checkpoint,
    read_checkpoint,
    read_export,
    read_json,
    read_policy,
    read_tlog_proofs,
    write_bytes,
    write_publication,
)
from engagement_tracker.adapters.bootstrap import audit_service
from engagement_tracker.adapters.cli.output import (
    ACTOR,
    emit_rows,
    err,
    out,
    parse_actor,
    parse_time,
    print_error,
    refusals,
)
from engagement_tracker.adapters.cli.progress import progress
from engagement_tracker.adapters.cli.store import reader, signing_key_path, store_size, tracker
from engagement_tracker.adapters.cli.witness import witness
from engagement_tracker.adapters.files import text_out, write_out
from engagement_tracker.domain.errors import HistoryRewritten, InvalidInput
from engagement_tracker.projections.audit_log import (
    DEFAULT_ORIGIN,
    check_bundle,
    check_tlog_proof,
    log_vkey,
    tlog_proofs,
)
from engagement_tracker.projections.audit_trail import public_key_hex, require_origin

ORIGIN = click.option("--origin", default=DEFAULT_ORIGIN, show_default=True, help="the log's name in checkpoints")


@click.group()
def audit() -> None:
    """The confidential audit trail: verify, checkpoint, export (auditors and admins)."""


audit.add_command(witness)


@audit.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False))
def audit_keygen(path: str) -> None:
    """Write a new Ed25519 signing key (PEM, 0600) to PATH and print its public key."""
    with refusals():
        click.echo(public_key_hex(generate_signing_key(path)))


@audit.command("checkpoint")
@ACTOR
@click.option("--key", "key_path", default=None, help="PEM signing key (else ETRACK_AUDIT_SIGNING_KEY)")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="write it here")
@click.option("--format", "fmt", type=click.Choice(["note", "json"]), default="note", show_default=True,
              help="a C2SP signed note, or JSON (origin, size, root_hash, note, frontier, the 0.1.0 chain head)")
@ORIGIN
@click.pass_context
def audit_checkpoint(ctx: click.Context, actor: str, key_path: str | None, out_path: str | None, fmt: str,
                     origin: str) -> None:
    """Sign the trail: its Merkle tree's size and root (a signed note), and its chain head."""
    with refusals():
        key = load_signing_key(signing_key_path(ctx, key_path))
    with reader(ctx) as app, refusals():
        checkpoint = audit_service(app).checkpoint(parse_actor(actor), key, origin)
    text = str(checkpoint["note"]) if fmt == "note" else json.dumps(checkpoint, indent=2) + "\n"
    if out_path:
        with refusals():
            write_out(out_path, text)
    click.echo(text, nl=False)


@audit.command("vkey")
@click.option("--key", "key_path", default=None, help="PEM signing key (else ETRACK_AUDIT_SIGNING_KEY)")
@click.option("--public-key", default=None, help="or the public key: 64 hex chars or a file")
@ORIGIN
@click.pass_context
def audit_vkey(ctx: click.Context, key_path: str | None, public_key: str | None, origin: str) -> None:
    """Print the log's verifier key (ORIGIN+KEYID+BASE64, c2sp.org/signed-note): what Go's note.NewVerifier
    and a tlog-policy `log` line take."""
    with refusals():
        public = load_public_key(public_key) if public_key else load_signing_key(signing_key_path(ctx, key_path)).public_key()
        if public is None:
            raise InvalidInput("public_key", "give --key or --public-key")
        click.echo(log_vkey(require_origin(origin), public))


@audit.command("tiles")
@ACTOR
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="the directory to publish into (its checkpoint and tile/ tree)")
@click.option("--key", "key_path", default=None, help="PEM signing key (else ETRACK_AUDIT_SIGNING_KEY)")
@ORIGIN
@click.pass_context
def audit_tiles(ctx: click.Context, actor: str, out_dir: str, key_path: str | None, origin: str) -> None:
    """Publish the trail as C2SP tlog-tiles into OUT (checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/<N>):
    a new signed checkpoint and only the tiles grown since OUT's checkpoint; a full tile is never
    rewritten. A trail that no longer extends OUT's checkpoint is refused (exit 1), nothing written."""
    with refusals():
        key = load_signing_key(signing_key_path(ctx, key_path))
        published = published_checkpoint(out_dir)
    with reader(ctx) as app, refusals():
        try:
            publication = audit_service(app).publish(parse_actor(actor), key, origin, published)
            summary = write_publication(out_dir, publication)
        except HistoryRewritten as exc:
            print_error(exc)
            sys.exit(1)
    err.print(f"published {summary['size']} entries (had {summary['old_size']}): {summary['tiles_written']} tiles "
              f"written, {summary['full_tiles_kept']} full tiles kept, checkpoint in {summary['checkpoint']}")
    click.echo(str(publication.checkpoint["note"]), nl=False)


@audit.command("verify")
@ACTOR
@click.option("--checkpoint", "checkpoint_path", default=None, type=click.Path(exists=True, dir_okay=False))
@click.option("--public-key", default=None, help="trusted key: 64 hex chars or a file (else ETRACK_AUDIT_PUBLIC_KEY)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option("--witness-key", "witness_keys", multiple=True,
              help="a witness that must have cosigned the checkpoint: NAME+KEYID+BASE64 or a file (repeatable)")
@click.option("--against", "against_path", default=None, type=click.Path(dir_okay=False),
              help="an export you kept (`audit export`): name the first leaf that differs")
@click.option("--jobs", default=1, type=int, show_default=True,
              help="processes checking ranges of the log side by side (SQLite files; else one)")
@click.option("--policy", "policy_path", default=None, type=click.Path(dir_okay=False),
              help="a c2sp.org/tlog-policy file: the logs trusted, the witnesses, the quorum (k of n) the "
                   "checkpoint's cosignatures must meet")
@click.pass_context
def audit_verify(ctx: click.Context, actor: str, checkpoint_path: str | None, public_key: str | None,
                 as_json: bool, witness_keys: tuple[str, ...], against_path: str | None, jobs: int,
                 policy_path: str | None) -> None:
    """Re-read the store, recompute the chain, check the trail, the seals and the checkpoint. Exit 1 on any fault."""
    with refusals():
        checkpoint = read_checkpoint(checkpoint_path) if checkpoint_path else None
        trusted = load_public_key(public_key)
        own = signing_key_path(ctx, None)  # the tenant's own key, with --tenant
        if trusted is None and checkpoint is not None and (own or os.environ.get("ETRACK_AUDIT_SIGNING_KEY")):
            trusted = load_signing_key(own).public_key()  # the auditor's own key
        witnesses = load_witness_keys(witness_keys)
        against = read_export(against_path) if against_path else None
        policy = read_policy(policy_path) if policy_path else None
    with reader(ctx) as app, refusals(), progress(ctx, "verifying", store_size(app)) as advance:
        report = audit_service(app).verify(parse_actor(actor), checkpoint, trusted, witnesses, against,
                                           advance, jobs=jobs, policy=policy).to_dict()
    if report.get("refused"):
        err.print(f"refused: {report['refused']}")
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif report["ok"]:
        out.print(f"[green]intact[/]: {report['checked']} records, head {report['head']['position']} "
                  f"{report['head']['hash']}" + (f", {report['pending']} not yet in the trail" if report["pending"]
                                                 else "") + (", checkpoint holds" if checkpoint else "")
                  + (f", {report['sealed']} seals hold" if report.get("sealed") else
                     ", seals not checked (no record key)" if report.get("sealed") is None else ""))
    else:
        out.print(f"[red]FAULT[/]: first bad position {report['first_bad_position']}: {report['kind']}")
        emit_rows(report["faults"][:20], "table", "Faults")
    sys.exit(0 if report["ok"] else 1)


@audit.command("releases")
@ACTOR
@click.option("--analyst", default=None, help="only this analyst's releases (a party id), with their access history")
@click.option("--since", default=None, help="released on or after this ISO date or time")
@click.option("--until", default=None, help="released before this ISO date or time")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_context
def audit_releases(ctx: click.Context, actor: str, analyst: str | None, since: str | None, until: str | None,
                   fmt: str) -> None:
    """List every release logged in the audit log: who, when, shape, k and the digest of its rows."""
    with reader(ctx) as app, refusals():
        viewer = parse_actor(actor)
        rows = audit_service(app).releases(viewer, analyst, since, until)
        emit_rows(rows, fmt, "Releases in the audit log", RELEASE_COLUMNS)
        if analyst is not None:  # who could: that party's grants, beside what they released
            party = str(UUID(analyst))  # a party id: the service refused anything else
            history = [r for r in app.access.history(viewer) if r["party"] == party]
            if fmt == "table":
                emit_rows(history, fmt, f"Access history of {analyst}", ("at", "change", "role", "party", "by"))
            else:
                err.print(f"access history of {analyst}: " + "; ".join(f"{h['at']} {h['change']} {h['role']}"
                                                                       for h in history))


RELEASE_COLUMNS = ("position", "release", "answer", "released_at", "analyst", "family", "privacy", "by", "unit", "period",
                   "since", "until", "level", "k", "epsilon", "rho", "delta", "mechanism", "threshold", "rows",
                   "rows_sha256")


@audit.command("prove")
@click.argument("aggregate_id")
@click.option("--releases", is_flag=True, help="AGGREGATE_ID is an analyst's party id: prove every release they made, "
              "and the access register's records (who could)")
@ACTOR
@click.option("--checkpoint", "checkpoint_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="prove against this checkpoint (else sign a new one with --key)")
@click.option("--key", "key_path", default=None, help="PEM signing key for a new checkpoint")
@ORIGIN
@click.option("--format", "fmt", type=click.Choice(["json", "tlog-proof"]), default="json", show_default=True,
              help="one JSON bundle, or a directory of c2sp.org/tlog-proof files (<index>.tlog-proof, one a record)")
@click.option("--out", "out_path", required=True, type=click.Path(), help="the bundle (JSON) or the directory")
@click.pass_context
def audit_prove(ctx: click.Context, aggregate_id: str, releases: bool, actor: str, checkpoint_path: str | None,
                key_path: str | None, origin: str, fmt: str, out_path: str) -> None:
    """Write an offline bundle: every record of one engagement or cohort with its inclusion proof (--releases:
    every release of one analyst, and the access register)."""
    with refusals():
        checkpoint = read_checkpoint(checkpoint_path) if checkpoint_path else None
        key = load_signing_key(signing_key_path(ctx, key_path)) if checkpoint is None else None
    with reader(ctx) as app, refusals():
        service = audit_service(app)
        bundle = (service.prove_releases(parse_actor(actor), aggregate_id, checkpoint, key, origin) if releases
                  else service.prove(parse_actor(actor), aggregate_id, checkpoint, key, origin))
        if fmt == "json":
            write_out(out_path, json.dumps(bundle, indent=2) + "\n")
        else:
            for proof in tlog_proofs(bundle):
                write_bytes(os.path.join(out_path, f"{proof.index}.tlog-proof"), proof.text().encode())
    err.print(f"{len(bundle['entries'])} records of {bundle['aggregate_id']} proven against the tree of "
              f"{bundle['checkpoint']['size']} entries, written to {out_path}")


@audit.command("check-bundle")
@click.argument("bundle_path", type=click.Path())
@click.option("--public-key", default=None, help="trusted key: 64 hex chars or a file (else ETRACK_AUDIT_PUBLIC_KEY)")
@click.option("--policy", "policy_path", default=None, type=click.Path(dir_okay=False),
              help="a c2sp.org/tlog-policy file: the log's key, and the quorum of witnesses that must have cosigned")
def audit_check_bundle(bundle_path: str, public_key: str | None, policy_path: str | None) -> None:
    """Verify a bundle offline (no database): signature, leaves, inclusion proofs. BUNDLE_PATH is a JSON
    bundle, a c2sp.org/tlog-proof file, or a directory of them (`prove --format tlog-proof`). Exit 1 when it
    fails."""
    with refusals():
        trusted = load_public_key(public_key)
        policy = read_policy(policy_path) if policy_path else None
        proofs = read_tlog_proofs(bundle_path)
        bundle = read_json(bundle_path, "bundle") if proofs is None else {}
        notes = ([text.partition("\n\n")[2] for _, text in proofs] if proofs is not None
                 else [str((bundle.get("checkpoint") or {}).get("note", ""))])
        if trusted is None and policy is not None:
            trusted = next((k for k in (policy.log_key(n.split("\n", 1)[0]) for n in notes) if k is not None), None)
        if trusted is None:
            raise InvalidInput("public_key", "a bundle proves nothing without its signer's key: pass --public-key "
                               "(or a --policy listing its log)")
    if proofs is not None:
        problems, records = [], []
        for name, text in proofs:
            found, fields = check_tlog_proof(text, trusted)
            problems += [f"{name}: {p}" for p in found]
            if fields:
                records.append(f"{fields['aggregate_id']} v{fields['version']}")
        summary = (f"{len(proofs)} tlog-proof(s), records {', '.join(records[:3])}{' ...' if len(records) > 3 else ''}"
                   ", are leaves of the signed tree")
    else:
        problems = check_bundle(bundle, trusted)
        summary = (f"{len(bundle['entries'])} records of {bundle['aggregate_id']} are leaves of the signed tree of "
                   f"{bundle['checkpoint']['size']} entries")
    if policy is not None:
        for note in dict.fromkeys(notes):
            cosigners = policy.cosigners(note)
            if not policy.satisfied(cosigners):
                problems.append(f"the policy's quorum ({policy.quorum}) is not met: valid cosignatures of "
                                f"{', '.join(cosigners) or 'no witness'}")
    if problems:
        out.print(f"[red]FAULT[/]: {len(problems)} problem(s)")
        for p in problems[:20]:
            click.echo(f"  {p}")
        sys.exit(1)
    out.print(f"[green]holds[/]: {summary}")


@audit.command("consistency")
@click.argument("old")
@click.argument("new", required=False)
@ACTOR
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="the proof (JSON)")
@click.pass_context
def audit_consistency(ctx: click.Context, old: str, new: str | None, actor: str, out_path: str | None) -> None:
    """Prove that the tree at NEW (a size or a checkpoint file; default now) extends the one at OLD."""
    with refusals():
        sides = [None if v is None else int(v) if v.isdigit() else read_checkpoint(v) for v in (old, new)]
    with reader(ctx) as app, refusals():
        proof = audit_service(app).consistency(parse_actor(actor), sides[0] if sides[0] is not None else 0,
                                               sides[1])
        text = json.dumps(proof, indent=2) + "\n"
        if out_path:
            write_out(out_path, text)
    click.echo(text, nl=False)


@audit.command("export")
@ACTOR
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="file (default stdout)")
@click.pass_context
def audit_export(ctx: click.Context, actor: str, out_path: str | None) -> None:
    """Write the trail as JSON Lines, each entry with its hash (streamed a page at a time; a progress
    bar on stderr when it is a terminal)."""
    with reader(ctx) as app:
        service = audit_service(app)
        viewer = parse_actor(actor)
        with progress(ctx, "exporting", store_size(app), "entries") as advance:
            if out_path:
                with text_out(out_path) as fh:  # refused or failing: the file is left as it was
                    n = service.export(viewer, fh, advance)
                err.print(f"{n} entries written to {out_path}")
            else:
                service.export(viewer, sys.stdout, advance)


@click.command()
@click.argument("aggregate_id")
@ACTOR
@click.option("--version", "version", type=int, default=None)
@click.option("--at", "at", default=None, metavar="ISO-TIME")
@click.pass_context
def replay(ctx: click.Context, aggregate_id: str, actor: str, version: int | None, at: str | None) -> None:
    """The state of an engagement, cohort or party at a version or a time, as JSON (sealed shown sealed)."""
    when = parse_time(at)
    with reader(ctx) as app:
        click.echo(json.dumps(app.replay(aggregate_id, parse_actor(actor), version=version, at=when), indent=2))


@click.group()
def subject() -> None:
    """Persons and teams as data subjects (GDPR)."""


@subject.command("erase")
@click.argument("party_id")
@ACTOR
@click.pass_context
def subject_erase(ctx: click.Context, party_id: str, actor: str) -> None:
    """Erase a person or team: destroy their key, record the erasure, print the receipt."""
    with tracker(ctx, create=False) as app:
        erased = app.parties.erase(party_id, parse_actor(actor))
        click.echo(json.dumps({**erased.value, "status": erased.status}, indent=2))


COMMANDS: tuple[click.Command, ...] = (audit, replay, subject)
