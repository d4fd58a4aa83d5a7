"""`shipyard models ...`: register, import-mlflow, list, show, alias, stage, tag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from shipyard.cli.context import open_workspace

app = typer.Typer(help="The model registry: versions, aliases, stages, lineage.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")


def signature_from_dataset(ws: Any, dataset_ref: str, target: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A signature from a dataset version's schema (minus the target) and the lineage link."""
    dv = ws.datasets.show(dataset_ref)
    from shipyard.registry.signature import signature_from_schema

    return signature_from_schema(dv.schema, target=target), {
        "kind": "dataset", "ref": f"{dv.name}@{dv.version}", "digest": dv.digest, "role": "train"}


def read_signature(path: Path) -> dict[str, Any]:
    """A signature from a JSON file (checked by the registry like every signature)."""
    import json

    from shipyard.errors import InvalidInputError

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(f"--signature: cannot read {path} as JSON ({exc})", field="--signature",
                                value=str(path), expected="a JSON file {inputs: [...], outputs: [...]}") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(field="--signature", value=type(doc).__name__,
                                expected="a JSON object {inputs: [...], outputs: [...]}")
    return doc


@app.command("register")
def register(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    path: Path = typer.Argument(..., help="Model file (sklearn: a skops file)."),
    flavor: str = typer.Option("sklearn", "--flavor", help="How the artifact is loaded."),
    dataset: str | None = typer.Option(None, "--dataset", help="Training dataset NAME[@VERSION] (lineage, signature)."),
    target: str | None = typer.Option(None, "--target", help="Target column to leave out of the signature."),
    signature_file: Path | None = typer.Option(
        None, "--signature", help="A JSON signature file {inputs: [{name, type, nullable}], outputs: [{name}]} "
                                  "(instead of --dataset)."),
    description: str = typer.Option("", "--description"),
    tag: list[str] = typer.Option([], "--tag", help="KEY=VALUE (repeatable)."),
    as_json: bool = JSON,
) -> None:
    """Register a new immutable version of NAME."""
    from shipyard.cli.output import out, print_json
    from shipyard.errors import InvalidInputError
    from shipyard.registry.provenance import environment, git_info

    tags = {}
    for t in tag:
        if "=" not in t:
            raise InvalidInputError(field="--tag", value=t, expected="KEY=VALUE")
        k, v = t.split("=", 1)
        tags[k] = v
    ws = open_workspace(ctx)
    signature, lineage = None, []
    if dataset and signature_file:
        raise InvalidInputError(field="--signature", value=str(signature_file),
                                expected="either --signature or --dataset (both give the signature)")
    if dataset:
        signature, link = signature_from_dataset(ws, dataset, target)
        lineage.append(link)
    if signature_file:
        signature = read_signature(signature_file)
    provenance = {"git": git_info(ws.root), "environment": environment(), "source_file": str(path)}
    mv = ws.models.register(name, Path(path), flavor, signature=signature, provenance=provenance,
                            lineage=lineage, description=description, tags=tags)
    if as_json:
        print_json(mv.to_dict())
        return
    out(f"[green]registered[/] {mv.model}:{mv.version}  flavor {mv.flavor}  stage {mv.stage}  "
        f"sha256:{mv.artifact_digest[:12]}  {mv.artifact_size} B")
    if not mv.signature:
        out("[yellow]no signature[/]: `shipyard deploy` refuses it; re-register with --dataset NAME@VERSION "
            "or --signature FILE")


@app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION (a candidate or validated version)"),
    dataset: str = typer.Option(..., "--dataset", help="Dataset version to evaluate on: NAME:VERSION."),
    as_json: bool = JSON,
) -> None:
    """Run the workspace's evaluation and gates on a dataset version (exit 0: validated, 1: rejected)."""
    from shipyard.cli.output import out, print_json, table

    res = open_workspace(ctx).evaluations.evaluate(ref, dataset)
    if as_json:
        print_json(res.to_dict())
    else:
        out(table(f"gates ({res.dataset})", ["gate", "result", "value", "note"],
                  [[g["gate"], "PASS" if g["passed"] else "FAIL", g.get("value"), g.get("note", "")]
                   for g in res.gates]))
        out(f"{res.ref}: {res.main_metric} = {res.metrics.get(res.main_metric)}; stage [cyan]{res.stage}[/]  "
            f"evidence {res.evidence.get('source')} ({'verified' if res.evidence.get('verified') else 'NOT verified'})")
    if res.exit_code:
        raise typer.Exit(res.exit_code)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List models."""
    from shipyard.cli.output import out, print_json, table

    items = open_workspace(ctx).models.list_models()
    if as_json:
        print_json([m.to_dict() for m in items])
        return
    out(table(None, ["model", "latest", "aliases", "stages", "created by"],
              [[m.name, m.latest_version, ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
                ", ".join(f"{s}:{n}" for s, n in m.stages.items()), m.created_by] for m in items]))


def evidence_line(ev: dict[str, Any]) -> str:
    """``pipeline-run run r-1 · gates passed · MAC verified`` -- what approvers read first."""
    source = ev.get("source") or "none"
    where = (f" run {ev['run_id']}" if ev.get("run_id") else "") + \
            (f" dataset {ev['dataset']['ref']}" if isinstance(ev.get("dataset"), dict) else "")
    passed = ev.get("gates_passed")
    gates = "" if passed is None else (" · gates passed" if passed else " · gates FAILED")
    mac = "MAC verified" if ev.get("verified") else f"NOT verified: {ev.get('reason', '')}"
    return f"{source}{where}{gates} · {mac}"


def _print_version(mv: Any) -> None:
    from shipyard.cli.output import out, table

    out(f"[bold]{mv.model}:{mv.version}[/]  stage [cyan]{mv.stage}[/]  flavor {mv.flavor}  "
        f"aliases {', '.join(mv.aliases) or '-'}")
    out(f"  artifact sha256:{mv.artifact_digest}  ({mv.artifact_size} B)")
    out(f"  created  {mv.created_at[:19]} by {mv.created_by}" + (f"  run {mv.run_id}" if mv.run_id else ""))
    git = (mv.provenance or {}).get("git") or {}
    if git.get("commit"):
        out(f"  git      {git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}")
    for link in mv.lineage:
        out(f"  lineage  {link['kind']} {link['ref']} ({link['role']})")
    if mv.tags:
        out("  tags     " + ", ".join(f"{k}={v}" for k, v in mv.tags.items()))
    out("  evidence " + evidence_line(mv.evidence))
    metrics = ((mv.evaluation or {}).get("metrics") or {})
    if metrics:
        out(table("metrics", ["metric", "value"], [[k, f"{v:.4f}" if isinstance(v, float) else v]
                                                  for k, v in metrics.items()]))
    if mv.approvals:
        out(table("approvals", ["principal", "decision", "reason", "at"],
                  [[a["principal"], a["decision"], a["reason"], a["at"][:19]] for a in mv.approvals]))
    if mv.signature:
        out("  inputs   " + ", ".join(f"{i['name']}:{i['type']}" for i in mv.signature.get("inputs", [])))


@app.command("show")
def show(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME, NAME:VERSION or NAME@ALIAS"),
         as_json: bool = JSON) -> None:
    """Show a model (all versions) or one version."""
    from shipyard.cli.output import out, print_json, table

    ws = open_workspace(ctx)
    if ":" in ref or "@" in ref:
        mv = ws.models.get_version(ref)
        if as_json:
            print_json(mv.to_dict())
        else:
            _print_version(mv)
        return
    detail = ws.models.get_model(ref)
    if as_json:
        print_json(detail.to_dict())
        return
    s = detail.summary
    out(f"[bold]{s.name}[/]  latest {s.latest_version}  aliases "
        + (", ".join(f"{a}→{v}" for a, v in s.aliases.items()) or "-"))
    out(table(None, ["version", "stage", "flavor", "aliases", "evidence", "created", "by"],
              [[v.version, v.stage, v.flavor, ", ".join(v.aliases),
                f"{v.evidence.get('source', 'none')} ({'verified' if v.evidence.get('verified') else 'unverified'})",
                v.created_at[:19], v.created_by] for v in detail.versions]))


@app.command("alias")
def alias(ctx: typer.Context, name: str = typer.Argument(...), alias: str = typer.Argument(...),
          version: int | None = typer.Argument(None, help="Version to point at (omit with --delete)."),
          delete: bool = typer.Option(False, "--delete", help="Remove the alias."), as_json: bool = JSON) -> None:
    """Point ALIAS (champion, challenger, ...) at a version of NAME, or delete it."""
    from shipyard.cli.output import out, print_json
    from shipyard.errors import InvalidInputError

    ws = open_workspace(ctx)
    if delete:
        ws.models.delete_alias(name, alias)
        if as_json:
            print_json({"model": name, "alias": alias, "deleted": True})
        else:
            out(f"deleted alias {name}@{alias}")
        return
    if version is None:
        raise InvalidInputError(field="version", value=None, expected="a version number (or --delete)")
    mv = ws.models.set_alias(name, alias, version)
    if as_json:
        print_json(mv.to_dict())
    else:
        out(f"{name}@{alias} → {mv.model}:{mv.version}")


@app.command("stage")
def stage(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME:VERSION"),
          to: str = typer.Argument(..., help="Target stage."),
          reason: str = typer.Option("", "--reason"), as_json: bool = JSON) -> None:
    """Move a version to another stage (candidate → validated → approved → production → retired)."""
    from shipyard.cli.output import out, print_json

    mv = open_workspace(ctx).models.set_stage(ref, to, reason)
    if as_json:
        print_json(mv.to_dict())
    else:
        out(f"{mv.model}:{mv.version} is now [cyan]{mv.stage}[/]")


@app.command("tag")
def tag(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME:VERSION"),
        pair: str = typer.Argument(..., help="KEY=VALUE"), as_json: bool = JSON) -> None:
    """Set a tag on a version."""
    from shipyard.cli.output import out, print_json
    from shipyard.errors import InvalidInputError

    if "=" not in pair:
        raise InvalidInputError(field="tag", value=pair, expected="KEY=VALUE")
    k, v = pair.split("=", 1)
    mv = open_workspace(ctx).models.set_tag(ref, k, v)
    if as_json:
        print_json(mv.to_dict())
    else:
        out(f"{mv.model}:{mv.version} tag {k}={v}")


@app.command("import-mlflow")
def import_mlflow(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="MLflow model directory (with its MLmodel file)."),
    name: str = typer.Argument(..., help="Model name to register under."),
    description: str = typer.Option("", "--description"),
    as_json: bool = JSON,
) -> None:
    """Register an MLflow model (sklearn via skops, xgboost, lightgbm, onnx) as a candidate, without MLflow."""
    from shipyard.cli.output import out, print_json
    from shipyard.registry.mlflow_import import import_mlflow as run_import

    ws = open_workspace(ctx)
    mv = run_import(ws.models, path, name, description=description)
    if as_json:
        print_json(mv.to_dict())
        return
    src = (mv.provenance or {}).get("mlflow") or {}
    out(f"[green]imported[/] {src.get('model_uri')} as {mv.model}:{mv.version}  flavor {mv.flavor}  "
        f"stage {mv.stage}  sha256:{mv.artifact_digest[:12]}")
