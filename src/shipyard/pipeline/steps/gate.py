"""gate: apply the configured gates to the evaluation."""

from __future__ import annotations

from typing import Any

from shipyard.pipeline.context import RunContext


class GateStep:
    name = "gate"
    version = "1"
    portable = True  # needs only the spec, upstream outputs and the artifact store (executors/remote.py)

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"evaluation": ctx.outputs["evaluate"]["evaluation"], "gates": ctx.spec.gates}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.evaluation.gates import run_gates

        doc = ctx.memo.get("evaluation") or ctx.get_json(ctx.outputs["evaluate"]["evaluation"])
        ctx.memo["evaluation"] = doc
        results = [r.to_dict() for r in run_gates(ctx.spec.gates, doc)]
        passed = all(r["passed"] for r in results)
        for r in results:
            ctx.log(f"{'PASS' if r['passed'] else 'FAIL'}  {r['gate']}  value={r['value']}  {r['note']}")
        return {"passed": passed, "results": results}
