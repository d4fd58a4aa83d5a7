// The dashboard shell: sign-in with a token, the navigation, and a hash router over the pages.
import { api, token } from "./api.js";
import { fill, h, toast } from "./dom.js";
import * as models from "./pages/models.js";
import * as approvals from "./pages/approvals.js";
import * as endpoints from "./pages/endpoints.js";
import * as monitoring from "./pages/monitoring.js";
import * as audit from "./pages/audit.js";
import * as overview from "./pages/overview.js";

const main = () => document.getElementById("main");
export const session = { me: null, can: (perm) => !!session.me && session.me.permissions.includes(perm) };
let stopPage = null;  // a page's cleanup (timers) when the user leaves it

const ROUTES = [
  [/^\/?$/, overview.render],
  [/^\/models$/, models.list],
  [/^\/models\/([^/]+)$/, models.model],
  [/^\/models\/([^/]+)\/(\d+)$/, models.version],
  [/^\/approvals$/, approvals.render],
  [/^\/endpoints$/, endpoints.list],
  [/^\/endpoints\/([^/]+)$/, endpoints.endpoint],
  [/^\/monitoring$/, monitoring.render],
  [/^\/audit$/, audit.render],
];

function loginPage(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").replaceChildren();
  const input = h("input", { type: "password", id: "token", placeholder: "shp_…", size: 48, autocomplete: "off" });
  const form = h("form", { class: "card", id: "login", onsubmit: async (ev) => {
    ev.preventDefault();
    token.set(input.value.trim());
    if (await signIn()) route();
  } },
  h("h1", {}, "Sign in"),
  h("p", { class: "muted" }, "Paste an API token (", h("span", { class: "mono" }, "shipyard users token create NAME"), ")."),
  message ? h("p", { class: "error-box" }, message) : null,
  h("div", { class: "row" }, input, h("button", { class: "primary", type: "submit" }, "Sign in")));
  main().replaceChildren(form);
  input.focus();
}

async function signIn() {
  if (!token.get()) { loginPage(); return false; }
  try {
    session.me = await api.get("/whoami");
  } catch (err) {
    token.clear();
    loginPage(err.status === 401 ? `That token was refused: ${err.message}` : err.message);
    return false;
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("who").replaceChildren(
    h("span", { id: "whoami" }, `${session.me.name} · ${session.me.role}`),
    h("button", { onclick: () => { token.clear(); session.me = null; loginPage("Signed out."); } }, "Sign out"));
  return true;
}

async function route() {
  if (stopPage) { stopPage(); stopPage = null; }
  if (!session.me && !(await signIn())) return;
  const path = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", path.startsWith(`/${a.dataset.nav}`));
  for (const [re, page] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    const root = h("div", { class: "page" }, h("p", { class: "muted" }, "Loading…"));
    main().replaceChildren(root);
    try {
      stopPage = (await page(root, ...m.slice(1).map(decodeURIComponent))) || null;
    } catch (err) {
      fill(root, h("p", { class: "error-box" }, err.message || String(err)));
    }
    return;
  }
  main().replaceChildren(h("p", { class: "error-box" }, `No page at ${path}.`));
}

window.addEventListener("shipyard:unauthenticated", (ev) => {
  token.clear();
  session.me = null;
  loginPage(`Signed out: ${ev.detail.message}`);
});
window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (ev) => toast(ev.reason?.message || String(ev.reason), true));
route();
