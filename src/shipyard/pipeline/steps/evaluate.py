"""evaluate: score the new model (and the champion, on the same test set) into the evaluation document."""

from __future__ import annotations

from typing import Any

from shipyard.pipeline.context import RunContext


def champion_of(ctx: RunContext) -> Any:
    """The model's ``champion`` version, or None (no model, no alias yet)."""
    if "champion" not in ctx.memo:
        from shipyard.errors import NotFoundError

        try:
            ctx.memo["champion"] = ctx.ws.models.get_version(f"{ctx.spec.model}@champion")
        except NotFoundError:
            ctx.memo["champion"] = None
    return ctx.memo["champion"]


class EvaluateStep:
    name = "evaluate"
    version = "2"  # 2: min_group_size, the four fairlearn metrics, refused perturbations recorded
    portable = True  # needs only the spec, upstream outputs and the artifact store (executors/remote.py)

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.evaluation.gates import ci_metrics

        champ = champion_of(ctx)
        return {"model": ctx.outputs["train"]["model"], "split": ctx.outputs["split"]["split"],
                "evaluation": ctx.spec.evaluation, "ci_metrics": ci_metrics(ctx.spec.gates), "flavor": ctx.spec.flavor,
                "champion": None if champ is None else [champ.ref, champ.artifact_digest]}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.core.hashing import Digest
        from shipyard.evaluation.evaluator import EvaluationOptions, evaluate
        from shipyard.evaluation.gates import ci_metrics
        from shipyard.evaluation.names import DEFAULT_MAIN, MIN_GROUP_SIZE, TASK_METRICS
        from shipyard.flavors import factory
        from shipyard.pipeline.steps.split import split_frames

        s, ev = ctx.spec, ctx.spec.evaluation
        task = ctx.outputs["split"]["task"]
        model = ctx.memo.get("model")
        if model is None:
            model = factory.create(s.flavor).load(ctx.ws.artifacts.get_bytes(Digest(ctx.outputs["train"]["model"])),
                                                  trusted_types=ctx.ws.config.trusted_types)
        _, y_train, X_test, y_test = split_frames(ctx)
        allowed = TASK_METRICS[task]
        headline = [m for m in ev["metrics"] if m in allowed]
        if ev["metrics"] and not headline:
            from shipyard.errors import InvalidInputError

            hint = ""
            if s.task is None and task == "regression":
                import numpy as np

                n = len(np.unique(np.concatenate([y_train, y_test])))
                hint = (f" (the task was inferred as regression: {s.target} is numeric with {n} distinct values; "
                        "set data.task: classification if they are classes)")
            raise InvalidInputError(field="evaluation.metrics", value=ev["metrics"],
                                    expected=f"{task} metrics: " + ", ".join(allowed) + hint)
        for col in [*ev["slices"], *((ev.get("fairness") or {}).get("sensitive") or [])]:
            if col not in X_test.columns:
                from shipyard.errors import InvalidInputError

                raise InvalidInputError(field="evaluation", value=col,
                                        expected="a feature column: " + ", ".join(map(str, X_test.columns)))
        rob = ev.get("robustness")
        opts = EvaluationOptions(
            task=task, main=headline[0] if headline else DEFAULT_MAIN[task], slices=list(ev["slices"]),
            sensitive=list((ev.get("fairness") or {}).get("sensitive") or []),
            robustness=None if rob is None else {"missing_rate": rob["missing_rate"], "noise": rob["noise"],
                                                 "swap_rate": rob["swap_rate"]},
            bootstrap=int(ev["bootstrap"]), ci_metrics=ci_metrics(s.gates), shap=bool(ev.get("shap")),
            seed=s.seed, headline=headline, n_classes=len(ctx.outputs["split"].get("classes") or []),
            fairness_metric=(ev.get("fairness") or {}).get("metric") or "demographic_parity_difference",
            min_group_size=int(ev.get("min_group_size", MIN_GROUP_SIZE)))
        _check_scores(model, X_test, task, s.flavor)
        champ_mv = champion_of(ctx)
        champion = None
        if champ_mv is not None and champ_mv.flavor == "pyfunc":  # user code runs only in a sandboxed child
            ctx.log(f"champion {champ_mv.ref} is a pyfunc: not loaded into the pipeline, no comparison")
            champ_mv = None
        if champ_mv is not None:
            champion = factory.create(champ_mv.flavor).load(ctx.ws.models.load_artifact(champ_mv.ref),
                                                            trusted_types=ctx.ws.models.trusted_for(champ_mv))
            ctx.log(f"champion {champ_mv.ref} scored on the same {len(y_test)} test rows")
        doc = evaluate(model, X_test, y_test, opts, artifact_size=int(ctx.outputs["train"]["size"]),
                       champion=champion, champion_ref=None if champ_mv is None else champ_mv.ref,
                       champion_artifact_size=0 if champ_mv is None else int(champ_mv.artifact_size))
        doc["positive"] = ctx.outputs["split"].get("positive")
        doc["classes"] = ctx.outputs["split"].get("classes")
        ctx.memo["evaluation"] = doc
        digest = ctx.put_json(doc)
        main = opts.main
        ctx.log(f"{main} = {doc['metrics'].get(main)}; CI {doc['ci'].get(main)}")
        return {"evaluation": digest, "main_metric": main, "metrics": doc["metrics"],
                "champion": None if champ_mv is None else champ_mv.ref, "warnings": list(doc.get("warnings") or [])}


def _check_scores(model: Any, X: Any, task: str, flavor: str) -> None:
    """A model that cannot score the test set is the train function's mistake (exit 2), not shipyard's."""
    from shipyard.evaluation.scoring import score
    from shipyard.pipeline.errors import TrainFunctionError

    try:
        score(model, X.head(5), task)
    except Exception as exc:  # whatever the user's estimator raises
        raise TrainFunctionError(
            f"evaluate: the trained model (flavor {flavor}) cannot score the test set: {type(exc).__name__}: {exc}",
            field="pipeline.train", value=flavor,
            expected="a model that predicts on the data's feature columns as loaded from its flavor") from None
