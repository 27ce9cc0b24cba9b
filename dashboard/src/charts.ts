// SVG drawings of the dashboard: the decisions chart and the campaign graph.

import { s, fmtTime } from "./dom";
import type { Bucket, Graph } from "./api";

export const ACTIONS = ["allow", "warn", "require_approval", "block"] as const;
export const PHASES = ["recon", "exploit", "lateral", "collection", "exfiltration"] as const;

/** Stacked bars of decisions per time bucket. */
export function decisionsChart(series: Bucket[]): SVGElement {
  const W = 720;
  const H = 220;
  const pad = { l: 36, r: 8, t: 10, b: 28 };
  const max = Math.max(1, ...series.map((b) => b.allow + b.warn + b.require_approval + b.block));
  const bw = (W - pad.l - pad.r) / Math.max(1, series.length);
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": "decisions over time",
  });
  for (const t of [0, Math.ceil(max / 2), max]) {
    svg.append(
      s("line", { x1: pad.l, x2: W - pad.r, y1: y(t), y2: y(t), class: "grid" }),
      s("text", { x: pad.l - 6, y: y(t) + 4, class: "axis", "text-anchor": "end" }, t),
    );
  }
  series.forEach((b, i) => {
    let acc = 0;
    for (const a of ACTIONS) {
      const v = b[a];
      if (!v) continue;
      const rect = s("rect", {
        x: pad.l + i * bw + 1,
        width: Math.max(1, bw - 2),
        y: y(acc + v),
        height: y(acc) - y(acc + v),
        class: `bar a-${a}`,
        "data-action": a,
        "data-count": v,
      });
      rect.append(s("title", {}, `${fmtTime(b.start_ms)} · ${a}: ${v}`));
      svg.append(rect);
      acc += v;
    }
  });
  const first = series[0];
  const last = series[series.length - 1];
  if (first && last) {
    svg.append(
      s("text", { x: pad.l, y: H - 8, class: "axis" }, fmtTime(first.start_ms)),
      s("text", { x: W - pad.r, y: H - 8, class: "axis", "text-anchor": "end" }, fmtTime(last.start_ms)),
    );
  }
  return svg;
}

function phaseIndex(p: string | null): number {
  const i = PHASES.indexOf((p ?? "") as (typeof PHASES)[number]);
  return i < 0 ? 0 : i;
}

/**
 * The campaign graph: the operator on the left, one column per kill-chain phase, a node per
 * target in the column of its highest phase (coloured by it, with a dot per phase reached), an
 * edge from the operator to every target and a thick edge per pivot (target → target).
 */
export function campaignGraph(g: Graph): SVGElement {
  const colW = 170;
  const rowH = 64;
  const left = 150;
  // one row per target in the order they were first seen, so no edge runs through a node
  const ordered = [...g.targets].sort((a, b) => a.first_seen_ms - b.first_seen_ms || a.target.localeCompare(b.target));
  const rows = Math.max(1, ordered.length);
  const W = left + colW * PHASES.length + 20;
  const H = 60 + rows * rowH + 20;
  const pos = new Map<string, { x: number; y: number }>();
  ordered.forEach((n, ri) =>
    pos.set(n.target, { x: left + phaseIndex(n.max_phase) * colW + colW / 2, y: 70 + ri * rowH }),
  );
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "graph",
    role: "img",
    "aria-label": `campaign graph of ${g.operator}`,
  });
  const defs = s("defs", {});
  defs.append(
    s(
      "marker",
      { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }),
    ),
  );
  svg.append(defs);
  PHASES.forEach((p, i) => {
    svg.append(
      s("rect", { x: left + i * colW + 4, y: 24, width: colW - 8, height: H - 34, class: `col p-${p}`, rx: 6 }),
      s("text", { x: left + i * colW + colW / 2, y: 42, class: "colhead", "text-anchor": "middle" }, p),
    );
  });
  const op = { x: 60, y: 70 + ((rows - 1) * rowH) / 2 };
  for (const n of g.targets) {
    const p = pos.get(n.target)!;
    svg.append(s("line", { x1: op.x + 50, y1: op.y, x2: p.x - 62, y2: p.y, class: "edge" }));
  }
  for (const e of g.pivots) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    // leave the source's right edge, enter the destination from its right edge (or top)
    const sx = a.x + 62;
    const ex = b.x + (b.x > a.x ? -62 : 62);
    const mid = { x: Math.max(sx, ex) + 40, y: (a.y + b.y) / 2 };
    const path = s("path", {
      d: `M ${sx} ${a.y} Q ${mid.x} ${mid.y} ${ex} ${b.y}`,
      class: "pivot",
      "marker-end": "url(#arrow)",
      "data-from": e.from,
      "data-to": e.to,
    });
    path.append(s("title", {}, `pivot ${e.from} → ${e.to} (${e.count}×)`));
    svg.append(path);
  }
  svg.append(
    s("rect", { x: op.x - 50, y: op.y - 18, width: 100, height: 36, rx: 18, class: "opnode" }),
    s("text", { x: op.x, y: op.y + 4, "text-anchor": "middle", class: "oplabel" }, g.operator.slice(0, 14)),
  );
  for (const n of g.targets) {
    const p = pos.get(n.target)!;
    const node = s("g", {
      class: `node p-${n.max_phase ?? "none"}`,
      "data-target": n.target,
      "data-phase": n.max_phase ?? "",
      transform: `translate(${p.x}, ${p.y})`,
    });
    node.append(
      s("title", {}, `${n.target}\nphases: ${n.phases.join(", ")}\n${n.in_scope ? "in scope" : "out of scope"}`),
      s("rect", { x: -62, y: -16, width: 124, height: 32, rx: 6, class: n.in_scope ? "box" : "box out" }),
      s("text", { y: -1, "text-anchor": "middle", class: "label" }, n.target.length > 20 ? n.target.slice(0, 19) + "…" : n.target),
    );
    n.phases.forEach((ph, i) =>
      node.append(s("circle", { cx: -50 + i * 10, cy: 10, r: 3.5, class: `dot p-${ph}` })),
    );
    svg.append(node);
  }
  return svg;
}
