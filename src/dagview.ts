/**
 * SVG rendering of a laid-out flow: step boxes coloured by status, with
 * duration, foreach split progress, switch choices, stale and error markers;
 * zoom and pan; hovering or focusing a step highlights its upstream and
 * downstream. Everything that comes from the notebook or the kernel (step
 * names, errors) is set with textContent / createElementNS, never parsed as
 * HTML.
 *
 * For assistive technology the drawing is a listbox of its steps: one node is
 * in the tab order (roving tabindex), the arrow keys move along the edges and
 * across a rank, Enter or Space selects.
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
  /**
   * A switch step's tasks by the step they chose (splits inside a foreach,
   * iterations of a recursive switch): target step -> number of tasks.
   */
  switchCounts?: { [target: string]: number } | null;
  stale: boolean;
  /** The step's cell does not parse: the node keeps the last shape it had. */
  broken?: boolean;
  /** Untrusted error texts (cell rules, lint, failed run). */
  errors: string[];
}

/** Options of a {@link DagView}. */
export interface IDagViewOptions {
  /** A node was clicked, or chosen with Enter or Space. */
  onSelect?: (step: string) => void;
  /**
   * The view scrolls inside its parent element instead of shrinking: fitting
   * never zooms below `minFitZoom`, a bigger drawing gets the parent's
   * scrollbars, the wheel scrolls (Ctrl+wheel zooms).
   */
  scroll?: boolean;
  /** Smallest zoom {@link DagView.fit} chooses (default 0.1; readable text needs ~0.9). */
  minFitZoom?: number;
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

/**
 * What a switch step chose: `→ odd` for one task, `3 → odd · 2 → even` when
 * its tasks (foreach splits, recursion) chose differently; null without a choice.
 */
export function switchSummary(
  state: Pick<INodeState, 'switchChoice' | 'switchCounts'>
): string | null {
  const counts = Object.entries(state.switchCounts ?? {}).filter(([, n]) => n > 0);
  if (counts.length === 1 && counts[0][1] === 1) {
    // one task, one choice: the case value when known (`→ 'b'`), else the step it chose
    return `→ ${state.switchChoice ?? counts[0][0]}`;
  }
  if (counts.length) {
    return counts.map(([target, n]) => `${n} → ${target}`).join(' · ');
  }
  return state.switchChoice !== null ? `→ ${state.switchChoice}` : null;
}

/** The one-line detail under a step's name. */
export function nodeDetail(state: INodeState | undefined): string {
  if (!state) {
    return '';
  }
  if (state.broken) {
    return state.errors[0] ?? 'does not parse';
  }
  const parts: string[] = [];
  if (state.stale) {
    parts.push('stale');
  } else if (state.status) {
    parts.push(state.status);
  }
  const chosen = Object.values(state.switchCounts ?? {}).reduce((a, b) => a + b, 0);
  // a switch's case counts already say how many of its splits finished
  if (
    state.splits &&
    !(chosen > 1 && chosen === state.splits.done && chosen === state.splits.total)
  ) {
    parts.push(`${state.splits.done}/${state.splits.total}`);
  }
  const choice = switchSummary(state);
  if (choice !== null) {
    parts.push(choice);
  }
  if (state.durationMs !== null) {
    parts.push(formatDuration(state.durationMs));
  }
  return parts.join(' · ');
}

/** What a screen reader says of a node: its name, status and everything the node shows. */
export function nodeLabel(step: string, state: INodeState | undefined): string {
  const detail = nodeDetail(state);
  const status = state?.status || state?.stale || state?.broken ? '' : 'not run';
  const errors = state?.errors.length
    ? `${state.errors.length} error${state.errors.length > 1 ? 's' : ''}`
    : '';
  return [`step ${step}`, detail || status, errors].filter(x => x).join(', ');
}

/** An SVG view of a flow DAG with zoom and pan. */
export class DagView {
  constructor(options: IDagViewOptions = {}) {
    this._options = options;
    this.node = svg('svg', {
      class: 'jp-mf-DagView',
      role: 'listbox',
      'aria-label': 'Steps of the flow',
      'aria-orientation': 'vertical'
    }) as SVGSVGElement;
    this._markerId = `jp-mf-arrow-${++Private.counter}`;
    const defs = svg('defs');
    for (const [suffix, cls] of [
      ['', 'jp-mf-DagArrow'],
      ['-taken', 'jp-mf-DagArrow jp-mod-taken']
    ]) {
      const marker = svg('marker', {
        id: this._markerId + suffix,
        viewBox: '0 0 10 10',
        refX: '10',
        refY: '5',
        markerWidth: '7',
        markerHeight: '7',
        orient: 'auto-start-reverse'
      });
      marker.appendChild(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: cls }));
      defs.appendChild(marker);
    }
    this.node.appendChild(defs);
    this._root = svg('g', { class: 'jp-mf-DagRoot' }) as SVGGElement;
    this._edgeLayer = svg('g', { class: 'jp-mf-DagEdges', 'aria-hidden': 'true' }) as SVGGElement;
    this._nodeLayer = svg('g', { class: 'jp-mf-DagNodes' }) as SVGGElement;
    this._root.append(this._edgeLayer, this._nodeLayer);
    this.node.appendChild(this._root);
    this.node.addEventListener('wheel', this._onWheel, { passive: false });
    this.node.addEventListener('pointerdown', this._onPointerDown);
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('keydown', this._onKeyDown);
    this.node.addEventListener('contextmenu', this._onContextMenu);
    this.node.addEventListener('pointerover', this._onPointerOver);
    this.node.addEventListener('pointerleave', this._onPointerLeave);
    this.node.addEventListener('focusin', this._onFocusIn);
    this.node.addEventListener('focusout', this._onFocusOut);
  }

  /** The `<svg>` element to insert into the page. */
  readonly node: SVGSVGElement;

  /** The step shown as selected. */
  get selected(): string | null {
    return this._selected;
  }

  set selected(step: string | null) {
    this._selected = step;
    for (const [name, node] of this._nodes) {
      node.g.classList.toggle('jp-mod-selected', name === step);
      setAttr(node.g, 'aria-selected', name === step ? 'true' : 'false');
    }
    this._updateTabStop();
  }

  /** The step whose lineage is highlighted (hovered or focused), or null. */
  get traced(): string | null {
    return this._traced;
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
    this._parents.clear();
    this._children.clear();
    this._edgeLayer.textContent = '';
    for (const edge of layout.edges) {
      if (edge.from !== edge.to) {
        push(this._children, edge.from, edge.to);
        push(this._parents, edge.to, edge.from);
      }
      if (!edge.points.length) {
        continue;
      }
      const d = edge.points
        .map((p, i) => `${i ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`)
        .join(' ');
      const choice = edgeChoice(edge, states.get(edge.from));
      const path = svg('path', {
        d,
        class: `jp-mf-DagEdge jp-mf-DagEdge-${edge.kind}${choice.cls}`,
        'marker-end': `url(#${this._markerId}${choice.cls === ' jp-mod-taken' ? '-taken' : ''})`,
        'data-from': edge.from,
        'data-to': edge.to
      });
      if (choice.count !== null) {
        path.setAttribute('data-count', String(choice.count));
      }
      this._edgeLayer.appendChild(path);
      const text = [edge.label, choice.count !== null ? `×${choice.count}` : null]
        .filter(x => x)
        .join(' ');
      if (text) {
        const mid = edge.points[Math.floor(edge.points.length / 2)];
        const label = svg('text', {
          x: String(mid.x + 4),
          y: String(mid.y),
          class: `jp-mf-DagEdgeLabel${choice.cls}`,
          'data-from': edge.from,
          'data-to': edge.to
        });
        label.textContent = text;
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
    this._updateTabStop();
    this._trace(this._traced !== null && drawn.has(this._traced) ? this._traced : null);
    if (first) {
      this.fit();
    } else {
      this._apply();
    }
  }

  /**
   * Zoom and centre so the whole DAG fits the visible area: never above 100%,
   * never below the view's `minFitZoom` (a scrolling view shows the rest with
   * scrollbars).
   */
  fit(): void {
    const layout = this._layout;
    if (!layout) {
      return;
    }
    const { width, height } = this._viewport();
    const k = Math.min(
      1,
      Math.max(
        this._options.minFitZoom ?? MIN_ZOOM,
        Math.min(width / Math.max(layout.width, 1), height / Math.max(layout.height, 1))
      )
    );
    this._transform = {
      k,
      x: (width - layout.width * k) / 2,
      y: Math.max(0, (height - layout.height * k) / 2)
    };
    this._apply();
    const host = this._scrollHost();
    if (host) {
      host.scrollTop = 0;
      host.scrollLeft = this._uncutLeft(Math.max(0, (host.scrollWidth - host.clientWidth) / 2));
    }
  }

  /**
   * A scroll offset at or left of `left` at which no node is cut by the visible
   * area's left edge: a node's name is at its left, so a cut there leaves a
   * fragment ("er" of "upper"); a node cut on the right keeps its name.
   */
  private _uncutLeft(left: number): number {
    const nodes = this._layout?.nodes ?? [];
    const { k, x } = this._transform;
    for (let moved = true, rounds = 0; moved && rounds <= nodes.length; rounds++) {
      moved = false;
      for (const n of nodes) {
        const start = x + n.x * k;
        if (start < left && start + n.width * k > left) {
          left = Math.max(0, start - UNCUT_MARGIN);
          moved = true;
        }
      }
    }
    return left;
  }

  /** Zoom by `factor` around the point (cx, cy) of the visible area. */
  zoomBy(factor: number, cx = 0, cy = 0): void {
    const t = this._transform;
    const k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, t.k * factor));
    const host = this._scrollHost();
    if (host) {
      // the drawing point under (cx, cy) stays there
      const px = (host.scrollLeft + cx - t.x) / t.k;
      const py = (host.scrollTop + cy - t.y) / t.k;
      this._transform = { ...t, k };
      this._apply();
      host.scrollLeft = px * k + this._transform.x - cx;
      host.scrollTop = py * k + this._transform.y - cy;
      return;
    }
    const f = k / t.k;
    this._transform = { k, x: cx - (cx - t.x) * f, y: cy - (cy - t.y) * f };
    this._apply();
  }

  /** Move the drawing by (dx, dy) screen pixels. */
  panBy(dx: number, dy: number): void {
    const host = this._scrollHost();
    if (host) {
      host.scrollLeft -= dx;
      host.scrollTop -= dy;
      return;
    }
    this._transform = { ...this._transform, x: this._transform.x + dx, y: this._transform.y + dy };
    this._apply();
  }

  /** Pan so a step's box is in view. */
  reveal(step: string): void {
    const n = this._layout?.nodes.find(x => x.name === step);
    if (!n) {
      return;
    }
    const { width, height } = this._viewport();
    const { k } = this._transform;
    const host = this._scrollHost();
    if (host) {
      host.scrollLeft = this._transform.x + (n.x + n.width / 2) * k - width / 2;
      host.scrollTop = this._transform.y + (n.y + n.height / 2) * k - height / 2;
      return;
    }
    this._transform = {
      k,
      x: width / 2 - (n.x + n.width / 2) * k,
      y: height / 2 - (n.y + n.height / 2) * k
    };
    this._apply();
  }

  /**
   * Move keyboard focus to a step's node, scrolling no more than it takes to
   * show the node whole (the browser's own scroll on focus centres it, cutting
   * its neighbours' names).
   */
  focus(step: string): void {
    const node = this._nodes.get(step);
    if (node) {
      this._tabStop = step;
      this._updateTabStop();
      node.g.focus({ preventScroll: true });
      this._scrollToShow(step);
    }
  }

  /** Scroll a scrolling view by the least that shows a step's box whole. */
  private _scrollToShow(step: string): void {
    const host = this._scrollHost();
    const n = this._layout?.nodes.find(x => x.name === step);
    if (!host || !n) {
      return;
    }
    const { k, x, y } = this._transform;
    const nearest = (start: number, size: number, scroll: number, view: number): number => {
      const end = start + size + UNCUT_MARGIN;
      const from = Math.max(0, start - UNCUT_MARGIN);
      return from < scroll ? from : end > scroll + view ? Math.min(from, end - view) : scroll;
    };
    host.scrollLeft = nearest(x + n.x * k, n.width * k, host.scrollLeft, host.clientWidth);
    host.scrollTop = nearest(y + n.y * k, n.height * k, host.scrollTop, host.clientHeight);
  }

  /** The steps upstream (ancestors) and downstream (descendants) of `step`. */
  lineage(step: string): { upstream: Set<string>; downstream: Set<string> } {
    return { upstream: reach(this._parents, step), downstream: reach(this._children, step) };
  }

  dispose(): void {
    this.node.removeEventListener('wheel', this._onWheel);
    this.node.removeEventListener('pointerdown', this._onPointerDown);
    this.node.removeEventListener('click', this._onClick);
    this.node.removeEventListener('keydown', this._onKeyDown);
    this.node.removeEventListener('contextmenu', this._onContextMenu);
    this.node.removeEventListener('pointerover', this._onPointerOver);
    this.node.removeEventListener('pointerleave', this._onPointerLeave);
    this.node.removeEventListener('focusin', this._onFocusIn);
    this.node.removeEventListener('focusout', this._onFocusOut);
    this.node.remove();
  }

  /** The element that scrolls (a scrolling view's parent), or null. */
  private _scrollHost(): HTMLElement | null {
    return this._options.scroll ? this.node.parentElement : null;
  }

  /** Size of the visible area. */
  private _viewport(): { width: number; height: number } {
    const host = this._scrollHost() ?? this.node;
    return { width: host.clientWidth || 300, height: host.clientHeight || 400 };
  }

  private _apply(): void {
    const host = this._scrollHost();
    if (host && this._layout) {
      // the svg is as big as the zoomed drawing (at least the visible area): its parent scrolls
      const { width, height } = this._viewport();
      const { k } = this._transform;
      const w = this._layout.width * k;
      const h = this._layout.height * k;
      this._transform.x = Math.max(0, (width - w) / 2);
      this._transform.y = Math.max(0, (height - h) / 2);
      this.node.style.width = w > width ? `${Math.ceil(w)}px` : '';
      this.node.style.height = h > height ? `${Math.ceil(h)}px` : '';
    }
    const { k, x, y } = this._transform;
    this._root.setAttribute(
      'transform',
      `translate(${x.toFixed(1)},${y.toFixed(1)}) scale(${k.toFixed(4)})`
    );
    this.node.setAttribute('data-zoom', k.toFixed(2));
  }

  /** Highlight the lineage of `step` (null: none). */
  private _trace(step: string | null): void {
    this._traced = step;
    this.node.classList.toggle('jp-mod-tracing', step !== null);
    const { upstream, downstream } =
      step !== null
        ? this.lineage(step)
        : { upstream: new Set<string>(), downstream: new Set<string>() };
    for (const [name, node] of this._nodes) {
      const role =
        name === step
          ? 'self'
          : upstream.has(name)
            ? 'upstream'
            : downstream.has(name)
              ? 'downstream'
              : null;
      setAttr(node.g, 'data-lineage', role);
    }
    const up = new Set([...upstream, ...(step !== null ? [step] : [])]);
    const down = new Set([...downstream, ...(step !== null ? [step] : [])]);
    for (const el of Array.from(this._edgeLayer.children)) {
      const from = el.getAttribute('data-from') ?? '';
      const to = el.getAttribute('data-to') ?? '';
      const on =
        step !== null &&
        ((up.has(from) && up.has(to) && to !== from) ||
          (down.has(from) && down.has(to) && to !== from));
      el.classList.toggle('jp-mod-lineage', on);
    }
  }

  /** One node in the tab order: the focused one, else the selected one, else the first. */
  private _updateTabStop(): void {
    const names = [...this._nodes.keys()];
    const stop = [this._tabStop, this._selected, names[0]].find(
      s => s !== null && s !== undefined && this._nodes.has(s)
    );
    for (const [name, node] of this._nodes) {
      setAttr(node.g, 'tabindex', name === stop ? '0' : '-1');
    }
  }

  private _onWheel = (event: WheelEvent): void => {
    if (this._options.scroll && !event.ctrlKey && !event.metaKey) {
      return; // the parent scrolls
    }
    event.preventDefault();
    const box = this._scrollHost()?.getBoundingClientRect() ?? this.node.getBoundingClientRect();
    this.zoomBy(
      Math.exp(-event.deltaY * 0.0015),
      event.clientX - box.left,
      event.clientY - box.top
    );
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

  /**
   * Enter or Space selects the focused node, as a click does; the arrow keys
   * move along the edges (Up: a parent, Down: a child) and across a rank
   * (Left, Right); Home and End go to the first and last step.
   */
  private _onKeyDown = (event: KeyboardEvent): void => {
    const step = stepAt(event.target);
    if (step === null) {
      return;
    }
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this._select(step);
      return;
    }
    const next = this._neighbour(step, event.key);
    if (next !== null) {
      event.preventDefault();
      event.stopPropagation();
      this.focus(next); // a scrolling view scrolls just enough to show it
      if (!this._scrollHost()) {
        this.reveal(next);
      }
    }
  };

  private _neighbour(step: string, key: string): string | null {
    const nodes = this._layout?.nodes ?? [];
    const here = nodes.find(n => n.name === step);
    if (!here) {
      return null;
    }
    const byX = (names: string[]) =>
      names
        .map(name => nodes.find(n => n.name === name))
        .filter((n): n is ILayoutNode => !!n)
        .sort((a, b) => Math.abs(a.x - here.x) - Math.abs(b.x - here.x))[0]?.name ?? null;
    switch (key) {
      case 'ArrowDown':
        return byX(this._children.get(step) ?? []);
      case 'ArrowUp':
        return byX(this._parents.get(step) ?? []);
      case 'ArrowLeft':
      case 'ArrowRight': {
        const sign = key === 'ArrowLeft' ? -1 : 1;
        const row = nodes
          .filter(n => Math.abs(n.y - here.y) < here.height && (n.x - here.x) * sign > 0)
          .sort((a, b) => (a.x - b.x) * sign);
        return row[0]?.name ?? null;
      }
      case 'Home':
        return nodes[0]?.name ?? null;
      case 'End':
        return nodes[nodes.length - 1]?.name ?? null;
    }
    return null;
  }

  private _onPointerOver = (event: PointerEvent): void => {
    const step = stepAt(event.target);
    if (step !== this._traced && (step !== null || !this.node.contains(document.activeElement))) {
      this._trace(step);
    }
  };

  private _onPointerLeave = (): void => {
    this._trace(stepAt(document.activeElement));
  };

  private _onFocusIn = (event: FocusEvent): void => {
    const step = stepAt(event.target);
    if (step !== null) {
      this._tabStop = step;
      this._updateTabStop();
      this._trace(step);
    }
  };

  private _onFocusOut = (event: FocusEvent): void => {
    if (!this.node.contains(event.relatedTarget as Node | null)) {
      this._trace(null);
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
  private _parents = new Map<string, string[]>();
  private _children = new Map<string, string[]>();
  private _markerId: string;
  private _layout: ILayout | null = null;
  private _selected: string | null = null;
  private _tabStop: string | null = null;
  private _traced: string | null = null;
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
/** Space left of a node a fit scrolls to, so its border shows (px). */
const UNCUT_MARGIN = 4;
const MAX_ZOOM = 3;

/**
 * How a switch's edge is drawn: taken (emphasised, with its task count) or
 * not taken (faded) once the switch ran; plain otherwise.
 */
function edgeChoice(
  edge: ILayout['edges'][number],
  from: INodeState | undefined
): { cls: string; count: number | null } {
  if (edge.kind !== 'switch' || !from) {
    return { cls: '', count: null };
  }
  const counts = from.switchCounts;
  if (counts && Object.keys(counts).length) {
    const n = counts[edge.to] ?? 0;
    const several = Object.values(counts).reduce((a, b) => a + b, 0) > 1;
    return n > 0
      ? { cls: ' jp-mod-taken', count: several ? n : null }
      : { cls: ' jp-mod-not-taken', count: null };
  }
  return { cls: '', count: null };
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) {
    if (!list.includes(value)) {
      list.push(value);
    }
  } else {
    map.set(key, [value]);
  }
}

/** Every step reachable from `step` through `links` (not `step` itself). */
function reach(links: Map<string, string[]>, step: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...(links.get(step) ?? [])];
  while (todo.length) {
    const s = todo.pop()!;
    if (!seen.has(s) && s !== step) {
      seen.add(s);
      todo.push(...(links.get(s) ?? []));
    }
  }
  return seen;
}

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
  const g = svg('g', {
    class: 'jp-mf-DagNode',
    'data-step': step,
    tabindex: '-1',
    role: 'option'
  }) as SVGGElement;
  const title = svg('title');
  const box = svg('rect', { class: 'jp-mf-DagNode-box', rx: '6' });
  const name = svg('text', { class: 'jp-mf-DagNode-name', x: '10', y: '19' });
  const detail = svg('text', { class: 'jp-mf-DagNode-detail', x: '10', y: '36' });
  g.append(title, box, name, detail);
  return { g, title, box, name, detail, mark: null };
}

/** Characters of a node's detail line that fit its box. */
const DETAIL_CHARS = 30;

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
  setAttr(g, 'data-broken', state?.broken ? 'true' : null);
  setAttr(g, 'aria-selected', selected ? 'true' : 'false');
  setAttr(g, 'aria-label', nodeLabel(box.name, state));
  g.classList.toggle('jp-mod-selected', selected);
  setAttr(node.box, 'width', String(box.width));
  setAttr(node.box, 'height', String(box.height));
  const detail = nodeDetail(state);
  setText(
    node.title,
    [box.name, state?.broken ? '' : detail, ...(state?.errors ?? [])].filter(x => x).join('\n')
  );
  setText(node.name, ellipsis(box.name, 22));
  setText(node.detail, ellipsis(detail, DETAIL_CHARS));
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
  // eslint-disable-next-line prefer-const -- incremented as a namespace member
  export let counter = 0;
}
