// The approval queue: validated versions waiting for a decision, with approve / reject for approvers.
import { api } from "../api.js";
import { fill, h, num, table, when } from "../dom.js";
import { approvalButtons } from "./models.js";

export async function render(root) {
  const queue = await api.get("/approvals/queue");
  const draw = async () => render(root);
  fill(root, h("h1", {}, "Approvals"),
    h("p", { class: "muted" }, "Versions whose gates passed (stage validated) wait here for the approvals the workspace requires."),
    table(["version", "main metric", "author", "registered", "approvals", "decision"], queue.map((q) => [
      h("a", { href: `#/models/${encodeURIComponent(q.model)}/${q.version}` }, q.ref),
      q.main_metric ? `${q.main_metric} ${num(q.metrics[q.main_metric])}` : "—", q.created_by, when(q.created_at),
      `${q.approvals} of ${q.required}`,
      q.you_decided ? h("span", { class: "muted" }, "you decided") : approvalButtons({ model: q.model, version: q.version, created_by: q.created_by }, draw),
    ]), "Nothing waits for approval."));
}
