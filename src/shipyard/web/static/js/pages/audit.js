// The audit log with filters (actor, action, subject, since) and the hash chain's verification.
import { api, q } from "../api.js";
import { badge, fill, h, table, when } from "../dom.js";
import { session } from "../app.js";

export async function render(root) {
  if (!session.can("audit:read")) {
    fill(root, h("h1", {}, "Audit"), h("p", { class: "error-box" }, `Your role (${session.me.role}) may not read the audit log (audit:read: approver, admin).`));
    return;
  }
  const fields = Object.fromEntries(["actor", "action", "subject", "since"].map((k) => [k, h("input", { name: k, placeholder: k === "since" ? "since (24h, 2026-12-01)" : k === "action" ? "action (model.*)" : k, size: 18 })]));
  const limit = h("select", { name: "limit" }, [100, 500, 2000].map((n) => h("option", { value: n }, `newest ${n}`)));
  const results = h("div", {}), verdict = h("div", { id: "verify" });
  const load = async () => {
    const params = Object.fromEntries(Object.entries(fields).map(([k, el]) => [k, el.value.trim()]));
    try {
      const events = await api.get(`/audit/events${q({ ...params, limit: limit.value })}`);
      results.replaceChildren(h("p", { class: "muted" }, `${events.length} event(s), newest first`),
        table(["seq", "when", "actor", "action", "subject", "change"], events.slice().reverse().map((e) => [e.seq, when(e.time), e.actor,
          h("span", { class: "mono" }, e.action), h("span", { class: "mono" }, e.subject), change(e)]), "No event matches."));
    } catch (err) { results.replaceChildren(h("p", { class: "error-box" }, err.message)); }
  };
  const verify = async () => {
    verdict.replaceChildren(h("span", { class: "muted" }, "verifying…"));
    const r = await api.get("/audit/verify");
    verdict.replaceChildren(r.ok ? badge("chain intact", "ok") : badge("chain broken", "bad"), " ",
      h("span", {}, r.ok ? `${r.checked} event(s) verified${r.keyed_from ? `, keyed from event ${r.keyed_from}` : ""}` : r.reason || JSON.stringify(r)));
  };
  fill(root, h("h1", {}, "Audit log"),
    h("form", { class: "row", onsubmit: (ev) => { ev.preventDefault(); load(); } }, Object.values(fields), limit,
      h("button", { class: "primary", type: "submit" }, "Filter"), h("button", { type: "button", onclick: verify }, "Verify chain")),
    verdict, results);
  await Promise.all([load(), verify()]);
}

function change(e) {
  const text_ = (x) => (x === null || x === undefined ? "" : typeof x === "string" ? x : JSON.stringify(x));
  const before = text_(e.before), after = text_(e.after);
  const text = `${before}${before && after ? " → " : ""}${after}`;
  return h("span", { class: "mono", title: text }, text.length > 120 ? `${text.slice(0, 119)}…` : text);
}
