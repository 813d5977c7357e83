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
    model.steps.map(s => [s.name, s.transition?.kind ?? null, s.transition?.targets ?? [], edgeLabels(s.transition)])
  );
}

/** Lay the flow out; steps whose targets are unknown keep only the known edges. */
export function layoutFlow(model: IFlowModel): ILayout {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, edgesep: 12, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set(model.steps.map(s => s.name));
  for (const step of model.steps) {
    g.setNode(step.name, { width: NODE_WIDTH, height: NODE_HEIGHT });
  }
  const edges: Array<Omit<ILayoutEdge, 'points'> & { id: string }> = [];
  for (const step of model.steps) {
    const t = step.transition;
    if (!t) {
      continue;
    }
    const labels = edgeLabels(t);
    t.targets.forEach((target, i) => {
      if (!names.has(target)) {
        return;
      }
      const id = `${step.name}->${target}#${i}`;
      const label = labels[i] ?? null;
      edges.push({ id, from: step.name, to: target, kind: t.kind, label });
      g.setEdge(step.name, target, label ? { width: label.length * 7, height: 14, labelpos: 'c' } : {}, id);
    });
  }
  dagre.layout(g);
  const graph = g.graph();
  return {
    nodes: model.steps.map(s => {
      const n = g.node(s.name);
      return { name: s.name, x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height };
    }),
    edges: edges.map(e => ({
      from: e.from,
      to: e.to,
      kind: e.kind,
      label: e.label,
      points: (g.edge({ v: e.from, w: e.to, name: e.id }).points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y }))
    })),
    width: graph.width ?? 0,
    height: graph.height ?? 0
  };
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
