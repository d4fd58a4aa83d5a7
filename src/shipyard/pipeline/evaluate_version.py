"""``shipyard models evaluate``: the workspace's evaluation and gates, run by shipyard on a registered dataset
version, sealed as evidence (issue 18).

It reuses the pipeline's own evaluate and gate steps (``pipeline/steps/evaluate.py``, ``gate.py``) over a
context whose test set is the whole dataset version, so a version evaluated here is judged exactly as a
pipeline run would judge it: same metrics, slices, fairness, robustness, champion comparison and gates.
The result is stored through ``RegistryService.record_evaluation``: validated (gates pass) or rejected.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.permissions import Permission, authorize
from shipyard.core.stages import Stage, StageTransitionError
from shipyard.errors import InvalidInputError

if TYPE_CHECKING:
    from shipyard.workspace import Workspace

# Flavors whose loading imports the uploader's code: never loaded in the control plane's process.
USER_CODE_FLAVORS = frozenset({"pyfunc"})


class UserCodeRefusedError(InvalidInputError):
    """Evaluating this version would run user code inside the control plane."""


@dataclass(slots=True)
class EvaluateResult:
    ref: str
    stage: str
    passed: bool
    dataset: str
    main_metric: str
    metrics: dict[str, Any]
    gates: list[dict[str, Any]]
    evidence: dict[str, Any]
    evaluation_artifact: str

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelEvaluationService:
    """``allow_user_code=False`` (the API server): a pyfunc version is refused instead of imported."""

    def __init__(self, ws: Workspace, *, allow_user_code: bool = True) -> None:
        self.ws, self.allow_user_code = ws, allow_user_code

    def evaluate(self, ref: str, dataset: str) -> EvaluateResult:
        """Evaluate ``ref`` on the dataset version ``dataset`` (NAME:VERSION or NAME@VERSION) and gate it."""
        authorize(self.ws.actor, Permission.MODEL_WRITE)
        ws = self.ws
        mv = ws.models.get_version(ref)
        if mv.stage not in (Stage.CANDIDATE.value, Stage.VALIDATED.value):  # fail before the heavy work
            raise StageTransitionError(
                f"evaluate: {mv.ref} is {mv.stage}; only a candidate or validated version can be evaluated",
                field="stage", value=mv.stage, expected="candidate | validated")
        if mv.flavor in USER_CODE_FLAVORS and not self.allow_user_code:
            raise UserCodeRefusedError(
                f"flavor: {mv.ref} is a {mv.flavor} model, whose loading runs its uploader's code; the control "
                "plane never imports user code, so it cannot evaluate it on the server. Run `shipyard models "
                "evaluate` in the workspace without --server/SHIPYARD_SERVER (it loads the model in your own "
                "process), or evaluate it through `shipyard run`",
                field="flavor", value=mv.flavor,
                expected="a flavor the server loads without user code (sklearn, xgboost, lightgbm, onnx)")
        ctx = _context(ws, mv, dataset)
        from shipyard.pipeline.steps.evaluate import EvaluateStep
        from shipyard.pipeline.steps.gate import GateStep
        from shipyard.pipeline.steps.register import _registry_evaluation
        from shipyard.registry.evidence import MODELS_EVALUATE, GateRun

        ctx.outputs["evaluate"] = EvaluateStep().run(ctx)
        gate = GateStep().run(ctx)
        doc = ctx.memo["evaluation"]
        dv = ctx.memo["dataset_version"]
        run = GateRun(MODELS_EVALUATE, list(gate["results"]), dataset={"ref": dv.ref, "digest": dv.digest},
                      extra={"evaluation_artifact": ctx.outputs["evaluate"]["evaluation"]})
        done = ws.models.record_evaluation(mv.ref, _registry_evaluation(doc, gate["results"]), run)
        out = ctx.outputs["evaluate"]
        return EvaluateResult(done.ref, done.stage, bool(gate["passed"]), dv.ref, out["main_metric"],
                              dict(out["metrics"]), list(gate["results"]), dict(done.evidence), out["evaluation"])


def _context(ws: Workspace, mv: Any, dataset: str) -> Any:
    """A pipeline context whose test set is every row of the dataset version and whose model is ``mv``."""
    from shipyard.core.gates import parse
    from shipyard.flavors import factory
    from shipyard.pipeline.context import RunContext
    from shipyard.pipeline.spec import RunSpec, check_columns, check_task
    from shipyard.pipeline.steps.split import encode_target

    cfg = ws.config
    if cfg.data is None:
        raise InvalidInputError(field="data.target", value=None,
                                expected="a data section in shipyard.yaml naming the target column "
                                         "(data: {train: ..., target: COLUMN}) to score the model against")
    for i, text in enumerate(cfg.gates):
        try:
            parse(text)
        except InvalidInputError as exc:
            raise InvalidInputError(f"gates[{i}]: {exc}", field=f"gates[{i}]", value=text,
                                    expected=exc.expected) from None
    name, sep, version = dataset.partition(":")  # NAME:VERSION as model refs are written, or NAME@VERSION
    dv = ws.datasets.show(f"{name}@{version}" if sep else dataset)
    seed = cfg.pipeline.split.seed if cfg.pipeline is not None else 7
    spec = RunSpec(root=ws.root, model=mv.model, dataset=dv.name, data_path=ws.root, target=cfg.data.target,
                   positive=cfg.data.positive, task=cfg.data.task, train_file=ws.root, train_function="",
                   params={}, split={"seed": seed}, flavor=mv.flavor,
                   validation=cfg.validation.model_dump(by_alias=True), evaluation=cfg.evaluation.model_dump(),
                   gates=list(cfg.gates), config=cfg)
    check_columns(spec, [c["name"] for c in dv.schema.get("columns", [])], dv.ref)
    X, y, task, positive, classes = encode_target(ws.datasets.load_table(dv.ref), spec.target, spec.positive,
                                                  spec.task)
    trained = (mv.provenance or {}).get("classes")
    if trained and classes and [str(c) for c in trained] != [str(c) for c in classes]:
        raise InvalidInputError(
            f"dataset: {dv.ref} has the classes {classes} in {spec.target}, but {mv.ref} was trained on {trained}",
            field="dataset", value=dv.ref, expected=f"a dataset version whose {spec.target} has the classes {trained}")
    check_task(spec, task, classes, positive)
    model = factory.create(mv.flavor).load(ws.models.load_artifact(mv.ref))
    ctx = RunContext(ws=ws, spec=spec, run_id="", data_digest=dv.digest, train_digest="")
    ctx.memo.update({"frame": (X, y, task, positive, classes), "model": model, "dataset_version": dv,
                     "split": {"train": [], "test": list(range(len(y)))}})
    ctx.outputs["split"] = {"task": task, "positive": positive, "classes": classes, "train_rows": 0,
                            "test_rows": len(y)}
    ctx.outputs["train"] = {"model": mv.artifact_digest, "size": mv.artifact_size}
    return ctx
