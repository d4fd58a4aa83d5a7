// Monitoring: per endpoint, each check's trend (drift share, data quality, live accuracy), drift per column,
// the live prediction log per version, and alerts.
import { api, q } from "../api.js";
import { badge, fill, h, num, table, when } from "../dom.js";

const enc = encodeURIComponent;
const LABEL = { drift: "share of drifted columns", quality: "worst column's data-quality rate", performance: "accuracy (true, else estimated)" };

export async function render(root) {
  const [eps, alerts] = await Promise.all([api.get("/endpoints"), api.get(`/alerts${q({ limit: 50 })}`)]);
  const sections = await Promise.all(eps.map((e) => endpointSection(e)));
  fill(root, h("h1", {}, "Monitoring"),
    h("h2", {}, "Alerts"),
    table(["when", "endpoint", "rule", "severity", "state", "message", "actions"], alerts.map((a) => [
      when(a.fired_at), a.endpoint, h("span", { class: "mono" }, a.rule), badge(a.severity), badge(a.state === "firing" ? "firing" : "resolved", a.state === "firing" ? "bad" : "ok"),
      a.message, (a.actions || []).map((x) => `${x.action} ${x.status}`).join(", ") || "—"]), "No alert has fired."),
    eps.length ? sections : h("p", { class: "muted" }, "No endpoints yet."));
  return () => charts.splice(0).forEach((c) => c.destroy());
}

const charts = [];

async function endpointSection(e) {
  const box = h("div", { class: "card monitor", dataset: { endpoint: e.name } }, h("h2", {}, h("a", { href: `#/endpoints/${enc(e.name)}` }, e.name)));
  let status = null, view = null;
  try { status = await api.get(`/endpoints/${enc(e.name)}/monitors${q({ limit: 100 })}`); } catch (err) { box.append(h("p", { class: "error-box" }, err.message)); }
  try { view = await api.get(`/endpoints/${enc(e.name)}/log?limit=0`); } catch { view = null; }
  const checks = Object.entries(status?.checks || {});
  if (!checks.length) box.append(h("p", { class: "muted" }, "No monitor result yet (configure `monitor:` in shipyard.yaml)."));
  const row = h("div", { class: "row" });
  for (const [name, c] of checks) {
    const latest = c.latest;
    const plot = h("div", { class: "plot", dataset: { check: name } });
    row.append(h("div", {}, h("b", {}, `${name} `), badge(latest.status), h("div", { class: "muted" }, `${LABEL[name] || name}: ${num(latest.value)} (v${latest.version}, ${latest.rows} rows, ${when(latest.at)})`), plot));
    const hist = c.history.slice().reverse();
    if (typeof window.uPlot === "function" && hist.length) {
      charts.push(new window.uPlot({ width: 360, height: 140, series: [{}, { label: name, stroke: "#2457c5" }], legend: { show: false } },
        [hist.map((x) => Date.parse(x.at) / 1000), hist.map((x) => x.value ?? null)], plot));
    }
  }
  box.append(row);
  const drift = status?.checks?.drift?.latest?.detail?.columns || status?.checks?.drift?.latest?.metrics?.columns;
  if (drift && typeof drift === "object") {
    box.append(h("h2", {}, "Drift per column (latest window)"),
      table(["column", "method", "score", "p-value", "drifted", "severity"], Object.entries(drift).map(([col, d]) => [col, d.method, num(d.score), num(d.p_value),
        d.drifted ? badge("drifted", "bad") : "no", d.severity ? badge(d.severity) : "—"])));
  }
  const rows = (view?.versions || []).map((s) => [`v${s.version}`, num(s.requests), num(s.rows), num(s.latency_p50_ms), num(s.latency_p99_ms), num(s.labelled), num(s.accuracy ?? s.mae)]);
  box.append(h("h2", {}, "Prediction log per version"),
    table(["version", "requests", "rows", "p50 ms", "p99 ms", "labelled rows", "accuracy / MAE"], rows, "Nothing logged yet."));
  return box;
}
