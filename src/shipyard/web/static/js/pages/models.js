// Models and versions: stage, aliases, metrics with confidence intervals, gates in words, reports, card, lineage.
import { api } from "../api.js";
import { badge, fill, h, num, table, toast, when } from "../dom.js";
import { session } from "../app.js";
import { aliasText, stageCounts } from "./overview.js";
import { lineageGraph } from "./lineage.js";

const enc = encodeURIComponent;

export async function list(root) {
  const models = await api.get("/models");
  fill(root, h("h1", {}, "Models"),
    table(["model", "latest version", "versions by stage", "aliases", "created"], models.map((m) => [
      h("a", { href: `#/models/${enc(m.name)}` }, m.name), num(m.latest_version), stageCounts(m.stages),
      aliasText(m.aliases), when(m.created_at)]), "No models yet: `shipyard run` registers one."));
}

export async function model(root, name) {
  const m = await api.get(`/models/${enc(name)}?summary=true`);
  const versions = m.versions.slice().sort((a, b) => b.version - a.version);
  fill(root, h("h1", {}, `Model ${m.name}`),
    m.description ? h("p", {}, m.description) : null,
    table(["version", "stage", "aliases", "main metric (95% CI)", "gates", "author", "registered"], versions.map((v) => [
      h("a", { href: `#/models/${enc(name)}/${v.version}` }, `v${v.version}`), badge(v.stage), v.aliases.join(", ") || "—",
      mainMetric(v.evaluation), gateSummary(v.evaluation), v.created_by, when(v.created_at)])));
}

export function mainMetric(ev) {
  if (!ev || !ev.main_metric) return "—";
  const m = ev.main_metric, ci = (ev.ci || {})[m];
  return `${m} ${num(ev.metrics?.[m])}${ci ? ` [${num(ci[0])}, ${num(ci[1])}]` : ""}`;
}

function gateSummary(ev) {
  const gates = ev?.gates || [];
  if (!gates.length) return "—";
  const failed = gates.filter((g) => !g.passed).length;
  return failed ? h("span", { class: "fail" }, `${failed} of ${gates.length} failed`) : h("span", { class: "pass" }, `all ${gates.length} passed`);
}

// A gate result in words: why it failed (or passed), with the value and the bound it was held to.
export function gateWords(g) {
  const m = g.gate.match(/(>=|<=|==|!=|>|<)\s*(.*)$/);
  const bound = m ? `${m[1]} ${m[2]}` : `${num(g.threshold)}`;
  const relative = g.gate.includes(" vs champion") ? (g.gate.includes("%") ? " vs champion (relative)" : " vs champion (difference)") : "";
  const subject = relative ? `${g.metric}${relative}` : g.metric;
  const base = g.value === null || g.value === undefined ? `${subject} has no value` : `${subject} is ${num(g.value)}`;
  const text = `${base}; the gate needs ${bound}`;
  return g.passed ? `passed: ${text}${g.note ? ` (${g.note})` : ""}` : `failed: ${text}${g.note ? `: ${g.note}` : ""}`;
}

export async function version(root, name, v) {
  const mv = await api.get(`/models/${enc(name)}/versions/${v}`);
  const ev = mv.evaluation || {};
  const ci = ev.ci || {};
  const metrics = Object.entries(ev.metrics || {}).filter(([, x]) => typeof x === "number" || x === null);
  const endpoints = await api.get("/endpoints");
  const serving = endpoints.filter((e) => e.model === mv.model && (e.routing.routes || []).some((r) => r.version === mv.version));
  const frame = h("iframe", { class: "doc", sandbox: "", title: "document" });
  const tabs = h("div", { class: "tabs row" });
  const show = async (label, path) => {
    for (const b of tabs.children) b.classList.toggle("active", b.textContent === label);
    try { frame.srcdoc = await api.text(path); } catch (err) { frame.srcdoc = ""; toast(err.message, true); }
  };
  for (const [label, path] of [["Evaluation report", `/models/${enc(name)}/versions/${v}/reports/report.html`],
    ["Model card", `/models/${enc(name)}/versions/${v}/card`]]) {
    if (label === "Evaluation report" && !(mv.reports || {})["report.html"]) continue;
    tabs.append(h("button", { onclick: () => show(label, path) }, label));
  }
  fill(root, 
    h("h1", {}, `${mv.model} v${mv.version} `, badge(mv.stage), " ", mv.aliases.map((a) => badge(a, "alias"))),
    h("p", { class: "muted" }, `registered by ${mv.created_by} on ${when(mv.created_at)} · flavor ${mv.flavor} · `,
      h("span", { class: "mono" }, mv.artifact_digest.slice(0, 16))),
    h("div", { class: "card", id: "decision" }, await decisionBox(mv)),
    h("h2", {}, "Gates"),
    table(["gate", "result"], (ev.gates || []).map((g) => [h("span", { class: "mono" }, g.gate),
      h("span", { class: g.passed ? "pass gate-result" : "fail gate-result" }, gateWords(g))]), "No gates were evaluated."),
    h("h2", {}, "Metrics"),
    table(["metric", "value", "95% CI", "champion"], metrics.map(([k, x]) => [k, num(x),
      ci[k] ? `[${num(ci[k][0])}, ${num(ci[k][1])}]` : "—", num(ev.champion?.metrics?.[k])]), "No evaluation."),
    (ev.warnings || []).length ? h("div", {}, h("h2", {}, "Warnings"), h("ul", {}, ev.warnings.map((w) => h("li", {}, w)))) : null,
    h("h2", {}, "Lineage"), h("div", { class: "card" }, lineageGraph(mv, serving)),
    h("h2", {}, "Documents"), tabs, frame,
    h("h2", {}, "Stage history"),
    table(["when", "from", "to", "by", "reason"], mv.stage_history.map((s) => [when(s.at), s.from || "—", badge(s.to), s.actor, s.reason])),
  );
  if (tabs.firstChild) tabs.firstChild.click();
}

async function decisionBox(mv) {
  const approvals = mv.approvals || [];
  const rows = table(["who", "decision", "reason", "when"], approvals.map((a) => [a.principal, badge(a.decision === "approve" ? "approved" : "rejected"), a.reason, when(a.at)]), "No decisions yet.");
  const box = [h("h2", {}, "Approvals"), rows];
  if (mv.stage !== "validated") return box;
  box.push(approvalButtons(mv, () => { location.reload(); }));
  return box;
}

// Approve / reject controls, shown only to those who may decide; the author sees why they cannot.
export function approvalButtons(mv, done) {
  if (!session.can("model:approve")) return h("p", { class: "muted no-approve" }, `Your role (${session.me.role}) cannot approve or reject versions.`);
  if (mv.created_by === session.me.name) {
    return h("p", { class: "muted author-note" }, "You registered this version; separation of duties: someone else must approve it.");
  }
  const reason = h("input", { placeholder: "reason (required to reject)", size: 40, class: "reason" });
  const decide = async (decision) => {
    try {
      await api.post("/approvals", { ref: `${mv.model}:${mv.version}`, decision, reason: reason.value });
      toast(`${mv.model}:${mv.version} ${decision === "approve" ? "approved" : "rejected"}`);
      done();
    } catch (err) { toast(err.message, true); }
  };
  return h("div", { class: "row" }, reason,
    h("button", { class: "primary approve", onclick: () => decide("approve") }, "Approve"),
    h("button", { class: "danger reject", onclick: () => decide("reject") }, "Reject"));
}
