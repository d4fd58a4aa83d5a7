// The control plane's /api/v1, with the signed-in user's bearer token (kept for this browser tab only).

const KEY = "shipyard.token";

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || (typeof body?.error === "string" ? body.error : `HTTP ${status}`));
    this.status = status;
    this.field = e.field;
    this.type = e.type;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

// Calls in flight: <html data-busy> while any is pending (the header shows a progress line; tests wait on it).
let inFlight = 0;
function busy(delta) {
  inFlight += delta;
  document.documentElement.toggleAttribute("data-busy", inFlight > 0);
}

async function call(method, path, body, accept = "application/json") {
  busy(1);
  try { return await request(method, path, body, accept); } finally { busy(-1); }
}

async function request(method, path, body, accept) {
  const headers = { Accept: accept };
  const t = token.get();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    const err = new ApiError(res.status, data);
    if (res.status === 401) window.dispatchEvent(new CustomEvent("shipyard:unauthenticated", { detail: err }));
    throw err;
  }
  return accept === "application/json" ? res.json() : res.text();
}

export const api = {
  get: (path) => call("GET", path),
  text: (path) => call("GET", path, undefined, "*/*"),
  post: (path, body) => call("POST", path, body ?? {}),
  put: (path, body) => call("PUT", path, body ?? {}),
};

export const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") s.set(k, v);
  const text = s.toString();
  return text ? `?${text}` : "";
};
