// Overview: what is in production, what waits for approval, recent changes.
import { api } from "../api.js";
import { badge, fill, h, num, table, when } from "../dom.js";
import { session } from "../app.js";
import { splitBar } from "./endpoints.js";

export async function render(root) {
  const [models, endpoints, queue] = await Promise.all([api.get("/models"), api.get("/endpoints"), api.get("/approvals/queue")]);
  const events = session.can("audit:read") ? await api.get("/audit/events?limit=10") : null;
  fill(root, 
    h("h1", {}, "Overview"),
    h("div", { class: "grid" },
      stat(models.length, "models", "#/models"),
      stat(endpoints.length, "endpoints", "#/endpoints"),
      stat(queue.length, "versions awaiting approval", "#/approvals")),
    h("h2", {}, "Endpoints"),
    table(["endpoint", "model", "traffic"], endpoints.map((e) => [
      h("a", { href: `#/endpoints/${encodeURIComponent(e.name)}` }, e.name), e.model, splitBar(e.routing)])),
    h("h2", {}, "Models"),
    table(["model", "latest", "versions by stage", "aliases"], models.map((m) => [
      h("a", { href: `#/models/${encodeURIComponent(m.name)}` }, m.name), num(m.latest_version),
      stageCounts(m.stages), aliasText(m.aliases)])),
    events ? h("div", {}, h("h2", {}, "Recent changes"),
      table(["when", "actor", "action", "subject"], events.slice().reverse().map((e) => [when(e.time), e.actor, e.action, e.subject]))) : null,
  );
}

export const stageCounts = (stages) => Object.entries(stages || {}).map(([s, n]) => [badge(`${s} ${n}`, s), " "]);
export const aliasText = (aliases) => Object.entries(aliases || {}).map(([a, v]) => `${a} → v${v}`).join(", ") || "—";
const stat = (n, label, href) => h("a", { class: "card stat", href }, h("b", {}, num(n)), h("span", {}, label));
