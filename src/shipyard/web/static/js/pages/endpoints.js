// Endpoints: routing split, the rollout with its analyses per check, live metrics per version, rollout controls.
import { api, q } from "../api.js";
import { badge, fill, h, num, table, toast, when } from "../dom.js";
import { session } from "../app.js";

const COLORS = ["#2457c5", "#1a7f37", "#b26a00", "#8e24aa", "#00838f", "#c62828"];
const enc = encodeURIComponent;
const REFRESH_MS = 3000;

export function splitBar(routing) {
  const routes = routing.routes || [];
  const bar = h("div", { class: "split", title: routes.map((r) => `v${r.version}: ${r.weight}%`).join(", ") });
  routes.forEach((r, i) => {
    if (r.weight > 0) bar.append(h("div", { style: `width:${r.weight}%;background:${COLORS[i % COLORS.length]}`, dataset: { version: r.version } }, `v${r.version} ${r.weight}%`));
  });
  const shadow = (routing.shadow || []).map((v) => `v${v}`).join(", ");
  return h("div", {}, bar, shadow ? h("div", { class: "muted" }, `shadow: ${shadow}`) : null);
}

export async function list(root) {
  const eps = await api.get("/endpoints");
  fill(root, h("h1", {}, "Endpoints"),
    table(["endpoint", "model", "traffic", "generation", "updated"], eps.map((e) => [
      h("a", { href: `#/endpoints/${enc(e.name)}` }, e.name), e.model, splitBar(e.routing), num(e.generation), when(e.updated_at)]),
    "No endpoints yet: `shipyard deploy MODEL:VERSION` creates one."));
}

async function rolloutOf(name) {
  try { return await api.get(`/endpoints/${enc(name)}/rollout`); } catch (err) { if (err.status === 404) return null; throw err; }
}

export async function endpoint(root, name) {
  const routing = h("div", { id: "routing" }), rollout = h("div", { id: "rollout" }), chart = h("div", { class: "chart", id: "live" });
  fill(root, h("h1", {}, `Endpoint ${name}`), h("h2", {}, "Traffic"), h("div", { class: "card" }, routing),
    h("h2", {}, "Rollout"), rollout, h("h2", {}, "Live traffic per version (last 15 minutes)"), h("div", { class: "card" }, chart));
  let plots = [];
  const refresh = async () => {
    const [ep, ro, live] = await Promise.all([api.get(`/endpoints/${enc(name)}`), rolloutOf(name),
      api.get(`/endpoints/${enc(name)}/metrics${q({ minutes: 15, step: 5 })}`)]);
    routing.replaceChildren(splitBar(ep.routing), h("p", { class: "muted" }, `generation ${ep.generation}, updated ${when(ep.updated_at)}`));
    rollout.replaceChildren(ro ? rolloutView(name, ro, refresh) : h("p", { class: "muted" }, "No rollout on this endpoint."));
    plots.forEach((p) => p.destroy());
    plots = liveCharts(chart, live);
  };
  await refresh();
  const timer = setInterval(() => refresh().catch((err) => toast(err.message, true)), REFRESH_MS);
  return () => { clearInterval(timer); plots.forEach((p) => p.destroy()); };
}

function rolloutView(name, ro, refresh) {
  const weights = Object.entries(ro.weights || {}).map(([v, w]) => `v${v} ${w}%`).join(" · ");
  const controls = h("div", { class: "row", id: "rollout-controls" });
  const active = ro.state === "progressing" || ro.state === "paused";
  if (active && session.can("deploy")) {
    const reason = h("input", { placeholder: "reason", size: 30 });
    const act = async (action) => {
      try { await api.post(`/endpoints/${enc(name)}/rollout/${action}`, { reason: reason.value }); toast(`rollout ${action}: done`); await refresh(); }
      catch (err) { toast(err.message, true); }
    };
    controls.append(reason,
      ro.state === "paused" ? h("button", { onclick: () => act("resume") }, "Resume") : h("button", { onclick: () => act("pause") }, "Pause"),
      h("button", { class: "primary", onclick: () => act("promote") }, "Promote"), h("button", { class: "danger", onclick: () => act("abort") }, "Abort"));
  } else if (active) {
    controls.append(h("span", { class: "muted" }, `Your role (${session.me.role}) cannot change rollouts (deploy: deployer, admin).`));
  }
  const analyses = (ro.analyses || []).slice().reverse();
  return h("div", { class: "card" },
    h("div", { class: "row" }, badge(ro.state), badge(ro.strategy, "strategy"), h("span", {}, `stable v${ro.stable} → candidate v${ro.candidate}`),
      h("span", { class: "muted" }, `step ${ro.step}${ro.spec?.steps ? ` of ${ro.spec.steps.length}` : ""} · ${weights}`)),
    ro.reason ? h("p", { class: ro.state === "rolled_back" ? "error-box" : "muted" }, ro.reason) : null,
    controls,
    h("h2", {}, "Analyses"),
    analyses.length ? h("div", { class: "timeline" }, analyses.map((a) => h("div", { class: "item analysis" },
      h("div", { class: "when" }, `${when(a.at)} · step ${a.step} `, badge(a.verdict)),
      table(["check", "version", "value", "threshold", "verdict"], (a.checks || []).map((c) => [h("span", { class: "mono" }, c.check + (c.dry_run ? " (dry run)" : "")),
        `v${c.version}`, num(c.value), num(c.threshold), badge(c.verdict)])))))
      : h("p", { class: "muted" }, "No analysis yet."));
}

function liveCharts(el, live) {
  const versions = Object.entries(live.versions || {});
  el.replaceChildren();
  if (!versions.length) { el.append(h("p", { class: "muted" }, "No traffic recorded in this window.")); return []; }
  if (typeof window.uPlot !== "function") { el.append(h("p", { class: "muted" }, "Charts unavailable.")); return []; }
  const times = [...new Set(versions.flatMap(([, s]) => s.t))].sort((a, b) => a - b);
  const align = (s, key) => { const m = new Map(s.t.map((t, i) => [t, s[key][i]])); return times.map((t) => m.get(t) ?? null); };
  const label = (v, s) => `v${v}${s.shadow ? " (shadow)" : ""}`;
  const width = Math.max(320, Math.min(1200, el.clientWidth || 900) / 3 - 12);
  const plots = [];
  for (const [key, title] of [["rps", "requests/s"], ["p99_ms", "p99 latency (ms)"], ["error_rate", "error rate"]]) {
    const box = h("div", { class: "plot", dataset: { metric: key } });
    el.append(box);
    const data = [times, ...versions.map(([, s]) => align(s, key))];
    plots.push(new window.uPlot({ title, width, height: 180, series: [{}, ...versions.map(([v, s], i) => ({ label: label(v, s), stroke: COLORS[i % COLORS.length], spanGaps: true }))] }, data, box));
  }
  el.style.display = "flex";
  el.style.gap = "12px";
  return plots;
}
