// The lineage graph of a version: dataset versions -> run -> version -> endpoints, drawn as SVG.
import { svg } from "../dom.js";

const W = 190, H = 34, GAP = 70, ROW = 48;

export function lineageGraph(mv, endpoints) {
  const datasets = mv.lineage.filter((l) => l.kind === "dataset").map((l) => ({ label: `dataset ${l.ref}`, title: l.digest || "" }));
  const runs = mv.lineage.filter((l) => l.kind === "run").map((l) => ({ label: `run ${l.ref}`, title: "pipeline run" }));
  const parents = mv.lineage.filter((l) => l.kind === "parent").map((l) => ({ label: `parent ${l.ref}`, title: "" }));
  const columns = [[...datasets, ...parents], runs, [{ label: `${mv.model} v${mv.version} (${mv.stage})`, title: mv.artifact_digest }],
    endpoints.map((e) => ({ label: `endpoint ${e.name}`, href: `#/endpoints/${encodeURIComponent(e.name)}`,
      title: (e.routing.routes || []).map((r) => `v${r.version} ${r.weight}%`).join(", ") }))].filter((c) => c.length);
  const rows = Math.max(...columns.map((c) => c.length));
  const width = columns.length * W + (columns.length - 1) * GAP + 2, height = rows * ROW + 2;
  const root = svg("svg", { class: "lineage", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "lineage graph" });
  const pos = columns.map((col, i) => col.map((_, j) => ({ x: 1 + i * (W + GAP), y: 1 + j * ROW + (rows - col.length) * ROW / 2 })));
  for (let i = 0; i + 1 < columns.length; i++) {
    for (const a of pos[i]) for (const b of pos[i + 1]) {
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
      root.append(svg("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
    }
  }
  columns.forEach((col, i) => col.forEach((node, j) => {
    const { x, y } = pos[i][j];
    const text = svg("text", { x: x + 10, y: y + H / 2 + 4 }, node.label.length > 28 ? `${node.label.slice(0, 27)}…` : node.label);
    const g = svg("g", {}, svg("title", {}, `${node.label}${node.title ? `\n${node.title}` : ""}`), svg("rect", { x, y, width: W, height: H, rx: 6 }));
    g.append(node.href ? svg("a", { href: node.href }, text) : text);
    root.append(g);
  }));
  return root;
}
