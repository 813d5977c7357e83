/**
 * Pure DAG layout of an assembled flow with dagre (no DOM): node boxes and
 * edge polylines in SVG user units, top to bottom.
 */
import * as dagre from '@dagrejs/dagre';

import type { IFlowModel } from './assembly';

/** Size of a step box. */
export const NODE_WIDTH = 168;
export const NODE_HEIGHT = 46;

/** A placed step (x, y: top-left corner). */
export interface ILayoutNode {
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A placed transition; `label` names a foreach artifact, a switch case or num_parallel. */
export interface ILayoutEdge {
  from: string;
  to: string;
  kind: string;
  label: string | null;
  points: Array<{ x: number; y: number }>;
}

/** The whole drawing. */
export interface ILayout {
  nodes: ILayoutNode[];
  edges: ILayoutEdge[];
  width: number;
  height: number;
}

/** The graph part of a flow model that decides the layout (statuses do not). */
export function layoutKey(model: IFlowModel): string {
  return JSON.stringify(
    model.steps.map(s => [
      s.name,
      s.transition?.kind ?? null,
      s.transition?.targets ?? [],
      edgeLabels(s.transition)
    ])
  );
}

/** Boxes up to which dagre searches for an order with fewer crossings. */
const MAX_OPTIMISED_NODES = 100;

/** Vertical gap between the steps of a chain (and between ranks). */
const RANK_SEP = 36;
/** How far a recursive step's loop reaches right of its box. */
const SELF_LOOP = 18;

/**
 * Lay the flow out; steps whose targets are unknown keep only the known edges.
 *
 * Chains of plain linear steps (one way out, one way in) go to dagre as one
 * tall box and are stacked inside it afterwards: same drawing, far fewer nodes
 * for dagre's crossing minimisation (the cost of large, mostly linear flows).
 */
export function layoutFlow(model: IFlowModel): ILayout {
  const names = new Set(model.steps.map(s => s.name));
  const edges: Array<Omit<ILayoutEdge, 'points'>> = [];
  for (const step of model.steps) {
    const t = step.transition;
    if (!t) {
      continue;
    }
    const labels = edgeLabels(t);
    t.targets.forEach((target, i) => {
      if (names.has(target)) {
        edges.push({ from: step.name, to: target, kind: t.kind, label: labels[i] ?? null });
      }
    });
  }
  const chains = findChains(
    model.steps.map(s => s.name),
    edges
  );
  const boxOf = new Map<string, string>(); // step -> its dagre node (the chain's first step)
  const chainOf = new Map<string, string[]>(); // step -> its chain
  for (const chain of chains) {
    for (const step of chain) {
      boxOf.set(step, chain[0]);
      chainOf.set(step, chain);
    }
  }

  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({
    rankdir: 'TB',
    nodesep: 24,
    ranksep: RANK_SEP,
    edgesep: 12,
    marginx: 12,
    marginy: 12,
    rankalign: 'top'
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const chain of chains) {
    g.setNode(chain[0], {
      width: NODE_WIDTH,
      height: chain.length * NODE_HEIGHT + (chain.length - 1) * RANK_SEP
    });
  }
  const outer = edges
    .map((e, i) => ({ ...e, id: `e${i}` }))
    .filter(e => !isChainLink(e, chainOf) && e.from !== e.to);
  // dagre places the targets of a step right to left in edge order: add them reversed so
  // branches read left to right as in self.next(...)
  for (const e of [...outer].reverse()) {
    g.setEdge(
      boxOf.get(e.from)!,
      boxOf.get(e.to)!,
      e.label ? { width: e.label.length * 7, height: 14, labelpos: 'c' } : {},
      e.id
    );
  }
  // Crossing minimisation is most of dagre's time on big graphs; past this size the
  // initial depth-first order (no crossings on series-parallel flows) is kept.
  dagre.layout(
    g,
    chains.length > MAX_OPTIMISED_NODES ? { disableOptimalOrderHeuristic: true } : {}
  );

  const boxes = new Map<string, ILayoutNode>();
  for (const chain of chains) {
    const n = g.node(chain[0]);
    const top = n.y - n.height / 2;
    chain.forEach((step, j) => {
      boxes.set(step, {
        name: step,
        x: n.x - NODE_WIDTH / 2,
        y: top + j * (NODE_HEIGHT + RANK_SEP),
        width: NODE_WIDTH,
        height: NODE_HEIGHT
      });
    });
  }
  const placed = new Map<string, ILayoutEdge>();
  for (const e of outer) {
    const points = (
      (g.edge({ v: boxOf.get(e.from)!, w: boxOf.get(e.to)!, name: e.id }).points ?? []) as IPoint[]
    ).map(p => ({
      x: p.x,
      y: p.y
    }));
    if (points.length >= 2) {
      // end on the chain member itself, not on the chain's box
      points[0] = borderPoint(boxes.get(e.from)!, points[1]);
      points[points.length - 1] = borderPoint(boxes.get(e.to)!, points[points.length - 2]);
    }
    placed.set(`${e.from}->${e.to}#${e.kind}#${e.label}`, {
      from: e.from,
      to: e.to,
      kind: e.kind,
      label: e.label,
      points
    });
  }
  const graph = g.graph();
  let width = graph.width ?? 0;
  const out: ILayoutEdge[] = [];
  for (const e of edges) {
    const key = `${e.from}->${e.to}#${e.kind}#${e.label}`;
    const done = placed.get(key);
    if (done) {
      out.push(done);
      continue;
    }
    if (e.from === e.to) {
      // a recursive step: a loop out of and back into its right border (dagre's own
      // self-loops run off the drawing), its label right of the loop
      const box = boxes.get(e.from)!;
      const right = box.x + box.width;
      const top = box.y + box.height * 0.3;
      const bottom = box.y + box.height * 0.7;
      out.push({
        ...e,
        points: [
          { x: right, y: top },
          { x: right + SELF_LOOP, y: top },
          { x: right + SELF_LOOP, y: (top + bottom) / 2 },
          { x: right + SELF_LOOP, y: bottom },
          { x: right, y: bottom }
        ]
      });
      width = Math.max(width, right + SELF_LOOP + 4 + (e.label?.length ?? 0) * 7 + 12);
      continue;
    }
    const a = boxes.get(e.from)!;
    const b = boxes.get(e.to)!;
    out.push({
      ...e,
      points: [
        { x: a.x + a.width / 2, y: a.y + a.height },
        { x: b.x + b.width / 2, y: b.y }
      ]
    });
  }
  return {
    nodes: model.steps.map(s => boxes.get(s.name)!),
    edges: out,
    width,
    height: graph.height ?? 0
  };
}

interface IPoint {
  x: number;
  y: number;
}

/**
 * Split the steps into chains: maximal runs a -> b -> ... where each link is the
 * only (unlabelled, linear) way out of its source and the only way into its
 * target. Every step is in exactly one chain (most chains have one step).
 */
function findChains(steps: string[], edges: Array<Omit<ILayoutEdge, 'points'>>): string[][] {
  const out = new Map<string, Set<string>>();
  const into = new Map<string, Set<string>>();
  const linear = new Map<string, boolean>();
  for (const s of steps) {
    out.set(s, new Set());
    into.set(s, new Set());
  }
  for (const e of edges) {
    out.get(e.from)!.add(e.to);
    into.get(e.to)!.add(e.from);
    linear.set(
      `${e.from}->${e.to}`,
      (linear.get(`${e.from}->${e.to}`) ?? true) && e.kind === 'linear' && !e.label
    );
  }
  const next = (s: string): string | null => {
    const targets = out.get(s)!;
    if (targets.size !== 1) {
      return null;
    }
    const [t] = targets;
    return t !== s && into.get(t)!.size === 1 && linear.get(`${s}->${t}`) ? t : null;
  };
  const hasChainParent = new Set<string>();
  for (const s of steps) {
    const t = next(s);
    if (t) {
      hasChainParent.add(t);
    }
  }
  const chains: string[][] = [];
  const seen = new Set<string>();
  const walk = (first: string) => {
    const chain = [first];
    seen.add(first);
    for (let t = next(first); t && !seen.has(t); t = next(t)) {
      chain.push(t);
      seen.add(t);
    }
    chains.push(chain);
  };
  for (const s of steps) {
    if (!hasChainParent.has(s)) {
      walk(s);
    }
  }
  for (const s of steps) {
    if (!seen.has(s)) {
      walk(s); // a pure cycle of linear steps (an error): cut anywhere
    }
  }
  return chains;
}

/** Whether an edge links two consecutive steps of one chain (drawn inside it). */
function isChainLink(e: Omit<ILayoutEdge, 'points'>, chainOf: Map<string, string[]>): boolean {
  const chain = chainOf.get(e.from)!;
  return (
    chain === chainOf.get(e.to) &&
    chain[chain.indexOf(e.from) + 1] === e.to &&
    e.kind === 'linear' &&
    !e.label
  );
}

/** Where the segment from a box's centre towards `toward` leaves the box. */
function borderPoint(box: ILayoutNode, toward: IPoint): IPoint {
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const dx = toward.x - cx;
  const dy = toward.y - cy;
  if (!dx && !dy) {
    return { x: cx, y: cy };
  }
  const w = box.width / 2;
  const h = box.height / 2;
  const scale = Math.abs(dy) * w > Math.abs(dx) * h ? h / Math.abs(dy) : w / Math.abs(dx);
  return { x: cx + dx * scale, y: cy + dy * scale };
}

/** Edge labels by target position: switch case values, foreach artifact, parallel count. */
function edgeLabels(t: IFlowModel['steps'][number]['transition']): Array<string | null> {
  if (!t) {
    return [];
  }
  if (t.kind === 'switch' && t.cases) {
    const byTarget = new Map<string, string[]>();
    for (const [value, target] of Object.entries(t.cases)) {
      byTarget.set(target, [...(byTarget.get(target) ?? []), value]);
    }
    return t.targets.map(target => (byTarget.get(target) ?? []).join(' | ') || null);
  }
  if (t.kind === 'foreach') {
    return [`foreach ${t.foreach}`];
  }
  if (t.kind === 'num_parallel') {
    return [`parallel ×${t.num_parallel ?? '?'}`];
  }
  return t.targets.map(() => null);
}
