// Monitoring: per endpoint, the prediction log's live view (per version rows, latency, labelled accuracy).
import { api } from "../api.js";
import { fill, h, num, table } from "../dom.js";

export async function render(root) {
  const eps = await api.get("/endpoints");
  const sections = await Promise.all(eps.map(async (e) => {
    let view;
    try { view = await api.get(`/endpoints/${encodeURIComponent(e.name)}/log?limit=0`); } catch (err) { return h("div", { class: "card" }, h("h2", {}, e.name), h("p", { class: "error-box" }, err.message)); }
    const rows = (view.versions || []).map((s) => [`v${s.version}`, num(s.requests), num(s.rows), num(s.latency_p50_ms), num(s.latency_p99_ms), num(s.labelled), num(s.accuracy ?? s.mae)]);
    return h("div", { class: "card" }, h("h2", {}, h("a", { href: `#/endpoints/${encodeURIComponent(e.name)}` }, e.name)),
      table(["version", "requests", "rows", "p50 ms", "p99 ms", "labelled rows", "accuracy / MAE"], rows, "Nothing logged yet."));
  }));
  fill(root, h("h1", {}, "Monitoring"), eps.length ? sections : h("p", { class: "muted" }, "No endpoints yet."));
}
