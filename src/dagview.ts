/**
 * SVG rendering of a laid-out flow: step boxes coloured by status, with
 * duration, foreach split progress, switch choice, stale and error markers;
 * zoom (wheel) and pan (drag). Everything that comes from the notebook or the
 * kernel (step names, errors) is set with textContent / createElementNS, never
 * parsed as HTML.
 */
import type { StepState } from './protocol';
import type { ILayout, ILayoutNode } from './layout';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** What a node shows besides its name. */
export interface INodeState {
  status: StepState | null;
  durationMs: number | null;
  /** Foreach progress: splits finished / splits in total. */
  splits: { done: number; total: number } | null;
  /** The case a switch step took. */
  switchChoice: string | null;
  stale: boolean;
  /** Untrusted error texts (cell rules, lint, failed run). */
  errors: string[];
}

/** Callbacks of a {@link DagView}. */
export interface IDagViewOptions {
  /** A node was clicked. */
  onSelect?: (step: string) => void;
}

/** Human duration: 850 ms, 12.3 s, 4 min 05 s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 60000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** The one-line detail under a step's name. */
export function nodeDetail(state: INodeState | undefined): string {
  if (!state) {
    return '';
  }
  const parts: string[] = [];
  if (state.stale) {
    parts.push('stale');
  } else if (state.status) {
    parts.push(state.status);
  }
  if (state.splits) {
    parts.push(`${state.splits.done}/${state.splits.total}`);
  }
  if (state.switchChoice !== null) {
    parts.push(`→ ${state.switchChoice}`);
  }
  if (state.durationMs !== null) {
    parts.push(formatDuration(state.durationMs));
  }
  return parts.join(' · ');
}

/** An SVG view of a flow DAG with zoom and pan. */
export class DagView {
  constructor(options: IDagViewOptions = {}) {
    this._options = options;
    this.node = svg('svg', { class: 'jp-mf-DagView', role: 'img' }) as SVGSVGElement;
    this._markerId = `jp-mf-arrow-${++Private.counter}`;
    const defs = svg('defs');
    const marker = svg('marker', {
      id: this._markerId,
      viewBox: '0 0 10 10',
      refX: '10',
      refY: '5',
      markerWidth: '7',
      markerHeight: '7',
      orient: 'auto-start-reverse'
    });
    marker.appendChild(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'jp-mf-DagArrow' }));
    defs.appendChild(marker);
    this.node.appendChild(defs);
    this._root = svg('g', { class: 'jp-mf-DagRoot' }) as SVGGElement;
    this._edgeLayer = svg('g', { class: 'jp-mf-DagEdges' }) as SVGGElement;
    this._nodeLayer = svg('g', { class: 'jp-mf-DagNodes' }) as SVGGElement;
    this._root.append(this._edgeLayer, this._nodeLayer);
    this.node.appendChild(this._root);
    this.node.addEventListener('wheel', this._onWheel, { passive: false });
    this.node.addEventListener('pointerdown', this._onPointerDown);
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('keydown', this._onKeyDown);
    this.node.addEventListener('contextmenu', this._onContextMenu);
  }

  /** The `<svg>` element to insert into the page. */
  readonly node: SVGSVGElement;

  /** The step shown as selected. */
  get selected(): string | null {
    return this._selected;
  }

  set selected(step: string | null) {
    this._selected = step;
    for (const g of Array.from(this._root.querySelectorAll('.jp-mf-DagNode'))) {
      g.classList.toggle('jp-mod-selected', g.getAttribute('data-step') === step);
    }
  }

  /** Current zoom factor and translation. */
  get transform(): { k: number; x: number; y: number } {
    return { ...this._transform };
  }

  /**
   * Draw `layout`; node details come from `states` (by step name). A step's
   * node keeps its elements across redraws (only what changed is updated), so
   * keyboard focus and an open context menu's target survive status updates.
   */
  render(layout: ILayout, states: Map<string, INodeState>): void {
    const first = this._layout === null;
    this._layout = layout;
    this._edgeLayer.textContent = '';
    for (const edge of layout.edges) {
      if (!edge.points.length) {
        continue;
      }
      const d = edge.points.map((p, i) => `${i ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
      const path = svg('path', {
        d,
        class: `jp-mf-DagEdge jp-mf-DagEdge-${edge.kind}`,
        'marker-end': `url(#${this._markerId})`,
        'data-from': edge.from,
        'data-to': edge.to
      });
      this._edgeLayer.appendChild(path);
      if (edge.label) {
        const mid = edge.points[Math.floor(edge.points.length / 2)];
        const label = svg('text', { x: String(mid.x + 4), y: String(mid.y), class: 'jp-mf-DagEdgeLabel' });
        label.textContent = edge.label;
        this._edgeLayer.appendChild(label);
      }
    }
    const drawn = new Set<string>();
    let cursor = this._nodeLayer.firstChild;
    for (const n of layout.nodes) {
      drawn.add(n.name);
      let node = this._nodes.get(n.name);
      if (!node) {
        node = createNode(n.name);
        this._nodes.set(n.name, node);
      }
      updateNode(node, n, states.get(n.name), n.name === this._selected);
      if (node.g === cursor) {
        cursor = cursor.nextSibling;
      } else {
        this._nodeLayer.insertBefore(node.g, cursor);
      }
    }
    for (const [name, node] of this._nodes) {
      if (!drawn.has(name)) {
        node.g.remove();
        this._nodes.delete(name);
      }
    }
    if (first) {
      this.fit();
    } else {
      this._apply();
    }
  }

  /** Zoom and centre so the whole DAG fits the visible area (never above 100%). */
  fit(): void {
    const layout = this._layout;
    if (!layout) {
      return;
    }
    const width = this.node.clientWidth || 300;
    const height = this.node.clientHeight || 400;
    const k = Math.min(1, width / Math.max(layout.width, 1), height / Math.max(layout.height, 1));
    this._transform = {
      k: Math.max(k, MIN_ZOOM),
      x: (width - layout.width * k) / 2,
      y: Math.max(0, (height - layout.height * k) / 2)
    };
    this._apply();
  }

  /** Zoom by `factor` around the point (cx, cy) of the view. */
  zoomBy(factor: number, cx = 0, cy = 0): void {
    const t = this._transform;
    const k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, t.k * factor));
    const f = k / t.k;
    this._transform = { k, x: cx - (cx - t.x) * f, y: cy - (cy - t.y) * f };
    this._apply();
  }

  /** Move the drawing by (dx, dy) screen pixels. */
  panBy(dx: number, dy: number): void {
    this._transform = { ...this._transform, x: this._transform.x + dx, y: this._transform.y + dy };
    this._apply();
  }

  /** Pan so a step's box is in view. */
  reveal(step: string): void {
    const n = this._layout?.nodes.find(x => x.name === step);
    if (!n) {
      return;
    }
    const width = this.node.clientWidth || 300;
    const height = this.node.clientHeight || 400;
    const { k } = this._transform;
    this._transform = { k, x: width / 2 - (n.x + n.width / 2) * k, y: height / 2 - (n.y + n.height / 2) * k };
    this._apply();
  }

  dispose(): void {
    this.node.removeEventListener('wheel', this._onWheel);
    this.node.removeEventListener('pointerdown', this._onPointerDown);
    this.node.removeEventListener('click', this._onClick);
    this.node.removeEventListener('keydown', this._onKeyDown);
    this.node.removeEventListener('contextmenu', this._onContextMenu);
    this.node.remove();
  }

  private _apply(): void {
    const { k, x, y } = this._transform;
    this._root.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)}) scale(${k.toFixed(4)})`);
  }

  private _onWheel = (event: WheelEvent): void => {
    event.preventDefault();
    const box = this.node.getBoundingClientRect();
    this.zoomBy(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
  };

  private _onPointerDown = (event: PointerEvent): void => {
    if (event.button !== 0) {
      return;
    }
    let lastX = event.clientX;
    let lastY = event.clientY;
    this._dragged = false;
    const move = (e: PointerEvent) => {
      if (Math.abs(e.clientX - event.clientX) + Math.abs(e.clientY - event.clientY) > 3) {
        this._dragged = true;
        this.node.classList.add('jp-mod-panning');
      }
      if (this._dragged) {
        this.panBy(e.clientX - lastX, e.clientY - lastY);
      }
      lastX = e.clientX;
      lastY = e.clientY;
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      this.node.classList.remove('jp-mod-panning');
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };

  private _onClick = (event: MouseEvent): void => {
    if (this._dragged) {
      this._dragged = false;
      return;
    }
    this._select(stepAt(event.target));
  };

  /** Nodes are focusable (Tab): Enter or Space on one selects it, as a click does. */
  private _onKeyDown = (event: KeyboardEvent): void => {
    const step = stepAt(event.target);
    if (step !== null && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      this._select(step);
    }
  };

  private _select(step: string | null): void {
    if (step !== null) {
      this.selected = step;
      this._options.onSelect?.(step);
    }
  }

  /**
   * Remember the node a context menu opens on, as an attribute of the view's
   * HTML host: JupyterLab's context-menu hit test only visits HTML elements.
   */
  private _onContextMenu = (event: MouseEvent): void => {
    const host = this.node.parentElement;
    const step = stepAt(event.target);
    if (host && step !== null) {
      host.setAttribute(CONTEXT_STEP_ATTR, step);
    } else {
      host?.removeAttribute(CONTEXT_STEP_ATTR);
    }
  };

  private _options: IDagViewOptions;
  private _root: SVGGElement;
  private _edgeLayer: SVGGElement;
  private _nodeLayer: SVGGElement;
  private _nodes = new Map<string, INodeElements>();
  private _markerId: string;
  private _layout: ILayout | null = null;
  private _selected: string | null = null;
  private _transform = { k: 1, x: 0, y: 0 };
  private _dragged = false;
}

/** The step name of the DAG node an event target belongs to, or null. */
export function stepAt(target: EventTarget | null): string | null {
  const el = target instanceof Element ? target.closest('.jp-mf-DagNode') : null;
  return el?.getAttribute('data-step') ?? null;
}

/** Attribute of a DAG view's host naming the node a context menu was opened on. */
export const CONTEXT_STEP_ATTR = 'data-jp-mf-context-step';

const MIN_ZOOM = 0.1;
const MAX_ZOOM = 3;

/** The elements of one step's node, kept across redraws. */
interface INodeElements {
  g: SVGGElement;
  title: SVGElement;
  box: SVGElement;
  name: SVGElement;
  detail: SVGElement;
  mark: SVGElement | null;
}

function createNode(step: string): INodeElements {
  const g = svg('g', { class: 'jp-mf-DagNode', 'data-step': step, tabindex: '0' }) as SVGGElement;
  const title = svg('title');
  const box = svg('rect', { class: 'jp-mf-DagNode-box', rx: '6' });
  const name = svg('text', { class: 'jp-mf-DagNode-name', x: '10', y: '19' });
  const detail = svg('text', { class: 'jp-mf-DagNode-detail', x: '10', y: '36' });
  g.append(title, box, name, detail);
  return { g, title, box, name, detail, mark: null };
}

/** Bring a node's elements up to date with its layout box and state. */
function updateNode(
  node: INodeElements,
  box: ILayoutNode,
  state: INodeState | undefined,
  selected: boolean
): void {
  const { g } = node;
  setAttr(g, 'transform', `translate(${box.x.toFixed(1)},${box.y.toFixed(1)})`);
  setAttr(g, 'data-status', state?.status ?? 'none');
  setAttr(g, 'data-stale', state?.stale ? 'true' : null);
  setAttr(g, 'data-error', state?.errors.length ? 'true' : null);
  g.classList.toggle('jp-mod-selected', selected);
  setAttr(node.box, 'width', String(box.width));
  setAttr(node.box, 'height', String(box.height));
  const detail = nodeDetail(state);
  setText(node.title, [box.name, detail, ...(state?.errors ?? [])].filter(x => x).join('\n'));
  setText(node.name, ellipsis(box.name, 22));
  setText(node.detail, ellipsis(detail, 28));
  const errors = state?.errors ?? [];
  if (!errors.length) {
    node.mark?.remove();
    node.mark = null;
    return;
  }
  if (!node.mark) {
    node.mark = svg('g', { class: 'jp-mf-DagNode-error' });
    node.mark.appendChild(svg('circle', { r: '8' }));
    const bang = svg('text', { 'text-anchor': 'middle', y: '4' });
    bang.textContent = '!';
    node.mark.append(bang, svg('title'));
    g.appendChild(node.mark);
  }
  setAttr(node.mark, 'transform', `translate(${box.width - 14},14)`);
  setText(node.mark.lastChild as SVGElement, errors.join('\n'));
}

function setAttr(el: Element, name: string, value: string | null): void {
  if (value === null) {
    el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) {
    el.setAttribute(name, value);
  }
}

function setText(el: Element, text: string): void {
  if (el.textContent !== text) {
    el.textContent = text;
  }
}

function svg(tag: string, attrs: { [name: string]: string } = {}): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    el.setAttribute(k, v);
  }
  return el as SVGElement;
}

/** `text` cut to `max` characters, the last one an ellipsis. */
export function ellipsis(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

namespace Private {
  export let counter = 0;
}
