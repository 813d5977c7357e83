/**
 * Per-notebook flow state: the flow assembled live from the notebook's cells,
 * the last step statuses the kernel reported, and stale detection (a step
 * whose cell source differs from the source its last run used, and every step
 * downstream of it that ran).
 */
import { Notification, type ISessionContext } from '@jupyterlab/apputils';
import { NotebookActions } from '@jupyterlab/notebook';
import type { INotebookTracker, Notebook, NotebookPanel } from '@jupyterlab/notebook';
import type { Cell, ICellModel } from '@jupyterlab/cells';
import { Token } from '@lumino/coreutils';
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';

import { assemble, type IFlowModel, type IStepModel } from './assembly';
import { classify } from './cellrules';
import type { INodeState } from './dagview';
import type {
  ICellError,
  IEnvelope,
  IExportResult,
  IFlow,
  IFlowModelMessage,
  INotebookCell,
  IRunState,
  IStepStatus,
  StepState
} from './protocol';
import { envelope } from './protocol';
import { staleSteps, switchChoice } from './runsummary';
import type { IKernelLink, IKernelLinks } from './tokens';

/** A step's status as the kernel last reported it, foreach splits folded in. */
export interface IStepRecord {
  /** How the last run of the step ended (or where it is); never `stale`. */
  state: Exclude<StepState, 'stale'>;
  /** The flow of the run the status is from (null when the kernel did not say). */
  flow: string | null;
  /** The kernel reported the step stale (its code, flow cell or upstream changed since). */
  stale: boolean;
  runId: string | null;
  durationMs: number | null;
  artifactCount: number | null;
  splits: { done: number; total: number } | null;
  /** A switch step's tasks by the step they chose (target -> tasks), when the kernel says. */
  switchCounts: { [target: string]: number } | null;
  /** The cell source the last run used. */
  source: string | null;
  cellId: string | null;
  /** Untrusted text. */
  error: string | null;
}

/** Folds `step_status` / `run_state` messages into one record per step. */
export class StatusBook {
  /**
   * Only records of this flow count (null: all). A notebook renamed without a `%%flow NAME`
   * is another flow, named after the notebook: its steps have not run, whatever the kernel
   * still holds of the old name's run.
   */
  flow: string | null = null;

  /** The record of a step, if the kernel reported it for {@link flow}. */
  get(step: string): IStepRecord | undefined {
    const record = this._records.get(step);
    return record && (this.flow === null || record.flow === null || record.flow === this.flow)
      ? record
      : undefined;
  }

  /** Steps with a record (of {@link flow}). */
  steps(): string[] {
    return [...this._records.keys()].filter(step => this.get(step) !== undefined);
  }

  /** Forget everything (kernel restarted). */
  clear(): void {
    this._records.clear();
    this._splits.clear();
  }

  /** Replace all records with a `run_state` snapshot. */
  reset(snapshot: IRunState): void {
    this.clear();
    for (const status of Object.values(snapshot.steps ?? {})) {
      this.apply(status);
    }
  }

  /** Apply one `step_status`. */
  apply(status: IStepStatus): IStepRecord {
    const previous = this._records.get(status.step);
    let splits = this._splits.get(status.step);
    const isSplit = typeof status.split_index === 'number';
    if (
      !splits ||
      (previous && previous.runId !== status.run_id) ||
      (!isSplit && status.state === 'queued')
    ) {
      splits = { done: new Set(), failed: new Set(), total: null, durationMs: 0, elapsedMs: null };
      this._splits.set(status.step, splits);
    }
    if (typeof status.num_splits === 'number') {
      splits.total = status.num_splits;
    }
    if (!isSplit && status.done_splits) {
      // a snapshot's foreach step as a whole: which splits finished, and its wall time
      splits.done = new Set(status.done_splits);
      splits.durationMs = status.duration_ms ?? 0;
    }
    const stale = status.state === 'stale';
    // `stale` says nothing of how the run ended: keep that (a failed step stays failed).
    let state: IStepRecord['state'] =
      status.state === 'stale' ? (previous?.state ?? 'done') : status.state;
    if (isSplit) {
      const index = status.split_index!;
      if (status.state === 'done' && !splits.done.has(index)) {
        splits.done.add(index);
        splits.durationMs += status.duration_ms ?? 0;
      } else if (status.state === 'failed') {
        splits.failed.add(index);
      }
      if (typeof status.elapsed_ms === 'number') {
        // the execution's wall time so far (its splits may run side by side): the latest
        splits.elapsedMs = status.elapsed_ms;
      }
      if (splits.failed.size) {
        state = 'failed';
      } else if (status.state === 'queued' && !splits.done.size) {
        state = 'queued';
      } else if (status.state === 'done' || status.state === 'queued') {
        state = splits.total !== null && splits.done.size >= splits.total ? 'done' : 'running';
      }
    }
    const record: IStepRecord = {
      state,
      flow: status.flow ?? previous?.flow ?? null,
      stale,
      runId: status.run_id ?? null,
      durationMs: isSplit
        ? (splits.elapsedMs ?? splits.durationMs) || previous?.durationMs || null
        : (status.duration_ms ?? (stale ? (previous?.durationMs ?? null) : null)),
      artifactCount: status.artifact_count ?? previous?.artifactCount ?? null,
      splits: splits.total !== null ? { done: splits.done.size, total: splits.total } : null,
      switchCounts:
        status.switch_counts ??
        (previous && previous.runId === status.run_id ? previous.switchCounts : null),
      source: status.source ?? previous?.source ?? null,
      cellId: status.cell_id ?? previous?.cellId ?? null,
      // the splits skipped after a failed one must not hide its error
      error:
        isSplit && status.state === 'skipped' && previous?.runId === status.run_id && previous.error
          ? previous.error
          : (status.error ?? (state === 'failed' ? (previous?.error ?? null) : null))
    };
    this._records.set(status.step, record);
    return record;
  }

  private _records = new Map<string, IStepRecord>();
  private _splits = new Map<
    string,
    {
      done: Set<number>;
      failed: Set<number>;
      total: number | null;
      durationMs: number;
      elapsedMs: number | null;
    }
  >();
}

/** Node states and the stale set of a flow, from its records and the live cell sources. */
export function computeNodeStates(
  model: IFlowModel,
  book: StatusBook,
  sourceOfCell: (cellIndex: number) => string | null,
  kernelErrors: ICellError[] = [],
  broken: ReadonlySet<string> = new Set()
): { nodes: Map<string, INodeState>; stale: Set<string> } {
  const ran = new Map(
    book.steps().map(name => {
      const record = book.get(name)!;
      return [name, { source: record.source, cellId: record.cellId, stale: record.stale }];
    })
  );
  const stale = staleSteps(model, ran, sourceOfCell);
  const errorsByCell = new Map<number, string[]>();
  for (const e of [...model.errors, ...kernelErrors]) {
    if (e.cell_index !== null) {
      const list = errorsByCell.get(e.cell_index) ?? [];
      const text = e.line !== null ? `line ${e.line}: ${e.message}` : e.message;
      if (!list.includes(text)) {
        list.push(text);
      }
      errorsByCell.set(e.cell_index, list);
    }
  }
  const nodes = new Map<string, INodeState>();
  for (const step of model.steps) {
    const record = book.get(step.name);
    const errors = [...(errorsByCell.get(step.cell_index) ?? [])];
    if (record?.state === 'failed' && record.error) {
      errors.push(record.error);
    }
    nodes.set(step.name, {
      status: record?.state ?? null,
      durationMs: record?.durationMs ?? null,
      splits: record?.splits ?? null,
      switchChoice: record ? switchChoice(step, name => book.get(name)?.runId) : null,
      switchCounts: record?.switchCounts ?? null,
      stale: stale.has(step.name),
      broken: broken.has(step.name),
      errors
    });
  }
  return { nodes, stale };
}

/** The key a step cell keeps across edits: its id, else its position. */
function cellKey(cell: Pick<INotebookCell, 'id' | 'index'>): string {
  return cell.id ?? `#${cell.index}`;
}

/**
 * The model to draw: `model` plus, for each step cell that does not parse now
 * (a syntax error while typing), the step it held when it last parsed, with
 * its transition (so its node and edges stay where they were). `lastGood`
 * (cell key -> step) is brought up to date with the cells that parse.
 */
export function keepBrokenSteps(
  model: IFlowModel,
  cells: INotebookCell[],
  lastGood: Map<string, IStepModel>
): { model: IFlowModel; broken: Set<string> } {
  const parsed = new Map(model.steps.map(s => [s.cell_index, s]));
  const names = new Set(model.steps.map(s => s.name));
  const failing = new Set(model.errors.map(e => e.cell_index));
  const broken = new Set<string>();
  const steps: IStepModel[] = [];
  const keys = new Set<string>();
  for (const cell of cells) {
    const key = cellKey(cell);
    keys.add(key);
    const step = parsed.get(cell.index);
    if (step) {
      lastGood.set(key, step);
      steps.push(step);
      continue;
    }
    const last = lastGood.get(key);
    if (last && !names.has(last.name) && failing.has(cell.index) && classify(cell) === 'step') {
      names.add(last.name);
      broken.add(last.name);
      steps.push({ ...last, cell_index: cell.index, cell_id: cell.id });
    }
  }
  for (const key of [...lastGood.keys()]) {
    if (!keys.has(key)) {
      lastGood.delete(key);
    }
  }
  return broken.size ? { model: { ...model, steps }, broken } : { model, broken };
}

/** The cells of a notebook model in the protocol's shape. */
export function notebookCells(cells: Iterable<ICellModel>): INotebookCell[] {
  const out: INotebookCell[] = [];
  let index = 0;
  for (const cell of cells) {
    const tags = cell.getMetadata('tags');
    out.push({
      index: index++,
      id: cell.id ?? null,
      cell_type: cell.type,
      source: cell.sharedModel.getSource(),
      tags: Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : []
    });
  }
  return out;
}

/**
 * Why the kernel side may see this notebook (JupyterLab's trust model): `trusted`,
 * every code cell is trusted (a notebook the user made, or trusted with the
 * `notebook:trust` command); `executed`, the user ran one of its cells; null,
 * neither: nothing of the notebook goes to the kernel, the DAG is drawn from the
 * frontend's own parsing.
 */
export type KernelConsent = 'trusted' | 'executed' | null;

/** Whether JupyterLab trusts every code cell (as `notebook:trust` makes them). */
export function notebookTrusted(cells: Iterable<ICellModel>): boolean {
  for (const cell of cells) {
    if (cell.type === 'code' && !cell.trusted) {
      return false;
    }
  }
  return true;
}

/** The setting Maximum workers as the kernel takes it: a positive integer, or null (0: not set). */
export function maxWorkersSetting(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? value : null;
}

/** Options of a {@link FlowState}. */
export interface IFlowStateOptions {
  /** Wait this long after the last edit before assembling again (ms). */
  debounceMs?: number;
  /** Whether to run `%load_ext jupyter_metaflow` when the notebook holds step cells. */
  autoLoad?: () => boolean;
  /** The setting Maximum workers, sent with the cells (null: not set). */
  maxWorkers?: () => number | null;
}

/** The live flow of one notebook panel. */
export class FlowState implements IDisposable {
  constructor(
    readonly panel: NotebookPanel,
    readonly link: IKernelLink | null,
    options: IFlowStateOptions = {}
  ) {
    this._debounceMs = options.debounceMs ?? 50;
    this._autoLoad = options.autoLoad ?? (() => true);
    this._maxWorkers = options.maxWorkers ?? (() => null);
    const model = panel.content.model;
    model?.contentChanged.connect(this._schedule, this);
    model?.cells.changed.connect(this._schedule, this);
    // A renamed notebook is another flow (its name, the kernel's path): assemble and send again.
    panel.context.pathChanged.connect(this._schedule, this);
    link?.messageReceived.connect(this._onMessage, this);
    link?.stateChanged.connect(this._onLinkState, this);
    panel.sessionContext.statusChanged.connect(this._onKernelStatus, this);
    panel.sessionContext.kernelChanged.connect(this._forgetKernelRuns, this);
    NotebookActions.executed.connect(this._onExecuted, this);
    this.refresh();
    this._maybeAutoLoad();
  }

  /** The flow assembled by the frontend from the current cells. */
  get model(): IFlowModel {
    return this._model;
  }

  /**
   * The flow to draw: {@link model} plus the steps whose cells do not parse
   * now, as they last parsed (see {@link broken}).
   */
  get drawnModel(): IFlowModel {
    return this._drawn;
  }

  /** Steps drawn from their cell's last parse (the cell has an error now). */
  get broken(): ReadonlySet<string> {
    return this._broken;
  }

  /** The cells the model was assembled from. */
  get cells(): INotebookCell[] {
    return this._cells;
  }

  /** The kernel's last `flow_model` answer. */
  get kernelModel(): IFlowModelMessage | null {
    return this._kernelModel;
  }

  /** The kernel's step statuses. */
  get book(): StatusBook {
    return this._book;
  }

  /** Node states by step name (status, stale, errors...). */
  get nodes(): Map<string, INodeState> {
    return this._nodes;
  }

  /** Steps marked stale. */
  get stale(): Set<string> {
    return this._stale;
  }

  /** Errors not located in a step cell (missing start, lint errors without a cell...). */
  get flowErrors(): ICellError[] {
    const stepCells = new Set(this._drawn.steps.map(s => s.cell_index));
    return this._allErrors().filter(e => e.cell_index === null || !stepCells.has(e.cell_index));
  }

  /** Emits after the model, statuses or stale set changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Whether a step ran successfully with the code its cell holds now. */
  isUpToDate(step: string): boolean {
    return this._book.get(step)?.state === 'done' && !this._stale.has(step);
  }

  /** Whether the kernel ran the cell at `index` successfully with the source it holds now. */
  ranInKernel(index: number): boolean {
    const cell = this.panel.content.model?.cells.get(index);
    return !!cell && this._ranSources.get(cell.id) === cell.sharedModel.getSource();
  }

  /** The cell index of a step, or -1. */
  cellIndexOf(step: string): number {
    return this._model.steps.find(s => s.name === step)?.cell_index ?? -1;
  }

  /** The step a cell holds, or null. */
  stepOfCell(index: number): string | null {
    return this._model.steps.find(s => s.cell_index === index)?.name ?? null;
  }

  /**
   * Why the kernel side may load and see the cells: the first of `trusted` (the
   * notebook is trusted) or `executed` (the user ran a cell) that happened; null
   * while neither did (an untrusted notebook nobody ran anything in).
   */
  get consent(): KernelConsent {
    return this._consent;
  }

  /**
   * The user runs a cell of this notebook (called before the execute request goes
   * out): the kernel side may load now, ahead of the cell, and get the cells.
   */
  executing(): void {
    this._grant('executed');
    this.flush();
  }

  /** How long the last assembly (cells read, rules applied, statuses folded) took, in ms. */
  get lastRefreshMs(): number {
    return this._lastRefreshMs;
  }

  /**
   * Assemble and send now if an edit is still waiting for its debounce, so the
   * kernel has the notebook's current cells (tags included) before a cell runs.
   */
  flush(): void {
    if (this._timer !== null) {
      this.refresh();
    }
  }

  /**
   * A cell's execute request is about to go out: the kernel must have the
   * notebook's cells before it runs a step or flow cell. Over the link when it
   * is up; else (right after a kernel was chosen, or when the notebook's own
   * `%load_ext` runs in the same batch) in a silent execute request sent ahead
   * of the cell's on the same channel, which also loads the kernel side.
   */
  beforeExecution(cellId: string): void {
    const link = this.link;
    const kernel = this.panel.sessionContext.session?.kernel;
    if (!link || !kernel || link.state === 'connected' || link.state === 'incompatible') {
      return;
    }
    const model = this._model;
    if (!model.steps.some(s => s.cell_id === cellId) && model.flow?.cell_id !== cellId) {
      return;
    }
    const message = JSON.stringify(envelope('flow', this._flowPayload()));
    kernel.requestExecute({
      code:
        '__import__("jupyter_metaflow").receive_notebook(' +
        `__import__("IPython").get_ipython(), ${JSON.stringify(message)})`,
      silent: true,
      store_history: false
    });
  }

  /** Assemble now (cancelling a pending debounce) and notify. */
  refresh(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    const t0 = performance.now();
    const model = this.panel.content.model;
    this._cells = model ? notebookCells(model.cells) : [];
    this._model = assemble(this._cells, this.panel.context.path);
    const drawn = keepBrokenSteps(this._model, this._cells, this._lastGood);
    this._drawn = drawn.model;
    this._broken = drawn.broken;
    this._lastRefreshMs = performance.now() - t0;
    this._recompute();
    if (model) {
      this._watchTrust(model.cells);
    }
    this._sendFlow();
    this._maybeAutoLoad();
  }

  /** Ask the kernel to export the notebook to a flow file. */
  export(options: { output?: string; force?: boolean } = {}): Promise<IExportResult> {
    const link = this.link;
    if (!link || link.state !== 'connected') {
      return Promise.reject(new Error('not-connected'));
    }
    const requestId = `export-${++Private.requestCounter}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(requestId);
        reject(new Error('The kernel did not answer the export request within 60 s.'));
      }, 60000);
      this._pending.set(requestId, result => {
        clearTimeout(timer);
        resolve(result);
      });
      this._sendFlow(true);
      if (
        !link.send('export', { path: this.panel.context.path, ...options, request_id: requestId })
      ) {
        clearTimeout(timer);
        this._pending.delete(requestId);
        reject(new Error('not-connected'));
      }
    });
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    Signal.clearData(this);
    NotebookActions.executed.disconnect(this._onExecuted, this);
    this.link?.messageReceived.disconnect(this._onMessage, this);
    this.link?.stateChanged.disconnect(this._onLinkState, this);
  }

  private _schedule(): void {
    if (this._isDisposed) {
      return;
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      if (!this._isDisposed) {
        this.refresh();
      }
    }, this._debounceMs);
  }

  private _recompute(): void {
    this._book.flow = this._model.name;
    const sources = new Map(this._cells.map(c => [c.index, c.source]));
    const { nodes, stale } = computeNodeStates(
      this._drawn,
      this._book,
      i => sources.get(i) ?? null,
      this._kernelModel?.lint_errors ?? [],
      this._broken
    );
    this._nodes = nodes;
    this._stale = stale;
    this._changed.emit();
  }

  private _allErrors(): ICellError[] {
    return [...this._model.errors, ...(this._kernelModel?.lint_errors ?? [])];
  }

  /** Follow each cell's trust; a notebook whose code cells are all trusted grants consent. */
  private _watchTrust(cells: Iterable<ICellModel>): void {
    for (const cell of cells) {
      if (!this._trustWatched.has(cell)) {
        this._trustWatched.add(cell);
        cell.stateChanged.connect(this._onCellState, this);
      }
    }
    if (this._consent === null && notebookTrusted(cells)) {
      this._grant('trusted');
    }
  }

  private _onCellState(_: ICellModel, change: { name: string }): void {
    const model = this.panel.content.model;
    if (
      change.name === 'trusted' &&
      this._consent === null &&
      model &&
      notebookTrusted(model.cells)
    ) {
      this._grant('trusted');
    }
  }

  private _grant(consent: Exclude<KernelConsent, null>): void {
    if (this._consent !== null || this._isDisposed) {
      return;
    }
    this._consent = consent;
    this._sendFlow();
    this._maybeAutoLoad();
    this._changed.emit();
  }

  /**
   * Send the cells to the kernel when they differ from what it has (or when forced:
   * an export the user asked for, which never runs code). Nothing of a notebook
   * without consent goes to the kernel.
   */
  private _sendFlow(force = false): void {
    const link = this.link;
    if (!link || link.state !== 'connected' || (!force && this._consent === null)) {
      return;
    }
    const payload = this._flowPayload();
    const key = JSON.stringify(payload);
    if (!force && key === this._lastSent) {
      return;
    }
    if (link.send('flow', payload)) {
      this._lastSent = key;
    }
  }

  /** The `flow` message: the cells, and the settings a step execution reads. */
  private _flowPayload(): IFlow {
    return { path: this.panel.context.path, cells: this._cells, max_workers: this._maxWorkers() };
  }

  /** A setting sent with the cells changed: send them again (when the kernel has them). */
  settingsChanged(): void {
    this._sendFlow();
  }

  private _onMessage(_: IKernelLink, message: IEnvelope): void {
    switch (message.type) {
      case 'flow_model':
        this._kernelModel = message.payload as IFlowModelMessage;
        this._recompute();
        break;
      case 'step_status':
        this._book.apply(message.payload as IStepStatus);
        this._recompute();
        break;
      case 'run_state':
        this._book.reset(message.payload as IRunState);
        this._recompute();
        break;
      case 'error': {
        // the kernel's export handler failed: end the wait with its message
        const error = message.payload as {
          message: string;
          request_id?: string;
          in_reply_to?: string;
        };
        const resolve = error.request_id ? this._pending.get(error.request_id) : undefined;
        if (resolve) {
          this._pending.delete(error.request_id!);
          resolve({ ok: false, error: error.message, request_id: error.request_id });
        } else if (error.in_reply_to === 'hello') {
          // the snapshot on connecting could not be complete (the latest run unreadable)
          Notification.warning(error.message, { autoClose: 10000 });
        }
        break;
      }
      case 'export_result': {
        const result = message.payload as IExportResult;
        const resolve = result.request_id ? this._pending.get(result.request_id) : undefined;
        if (resolve) {
          this._pending.delete(result.request_id!);
          resolve(result);
        }
        break;
      }
    }
  }

  private _onLinkState(_: IKernelLink, state: string): void {
    if (state === 'connected') {
      this._lastSent = null;
      this._sendFlow();
    } else if (state === 'not-loaded') {
      this._maybeAutoLoad();
    }
  }

  /** Remember the sources of the cells this notebook's kernel ran without error. */
  private _onExecuted(
    _: unknown,
    args: { notebook: Notebook; cell: Cell; success: boolean }
  ): void {
    if (args.notebook.model !== this.panel.content.model) {
      return;
    }
    const { id } = args.cell.model;
    if (args.success) {
      this._ranSources.set(id, args.cell.model.sharedModel.getSource());
    } else {
      this._ranSources.delete(id);
    }
  }

  private _forgetKernelRuns(): void {
    this._ranSources.clear();
  }

  private _onKernelStatus(_: ISessionContext, status: string): void {
    if (status === 'restarting' || status === 'autorestarting') {
      this._forgetKernelRuns();
      this._autoLoadTried = null;
      this._kernelModel = null;
      this._book.clear();
      this._recompute();
    } else if (status === 'idle') {
      this._maybeAutoLoad();
    }
  }

  /** Load the kernel extension silently when the notebook holds step cells and has consent. */
  private _maybeAutoLoad(): void {
    const link = this.link;
    const kernel = this.panel.sessionContext.session?.kernel;
    if (
      this._autoLoadTried === kernel ||
      !kernel ||
      ['restarting', 'autorestarting', 'dead', 'terminating'].includes(kernel.status) ||
      !link ||
      link.state !== 'not-loaded' ||
      !this._model.steps.length ||
      this._consent === null ||
      !this._autoLoad()
    ) {
      return;
    }
    this._autoLoadTried = kernel;
    // The loader itself, not %load_ext: the notebook's own `%load_ext jupyter_metaflow` cell then
    // registers the extension quietly instead of printing "already loaded".
    kernel.requestExecute({
      code: '__import__("jupyter_metaflow").load_ipython_extension(__import__("IPython").get_ipython())',
      silent: true,
      store_history: false
    });
  }

  private _model: IFlowModel = assemble([]);
  private _drawn: IFlowModel = this._model;
  private _broken: ReadonlySet<string> = new Set();
  private _lastGood = new Map<string, IStepModel>();
  private _cells: INotebookCell[] = [];
  private _kernelModel: IFlowModelMessage | null = null;
  private _book = new StatusBook();
  private _nodes = new Map<string, INodeState>();
  private _stale = new Set<string>();
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _debounceMs: number;
  private _autoLoad: () => boolean;
  private _maxWorkers: () => number | null;
  private _consent: KernelConsent = null;
  private _trustWatched = new WeakSet<ICellModel>();
  /** The kernel the extension was last auto-loaded into (reset by restarts). */
  private _autoLoadTried: unknown = null;
  private _lastSent: string | null = null;
  private _lastRefreshMs = 0;
  private _pending = new Map<string, (r: IExportResult) => void>();
  /** Cell id -> the source the kernel last ran successfully (cleared when the kernel restarts or changes). */
  private _ranSources = new Map<string, string>();
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

/** One {@link FlowState} per open notebook. */
export interface IFlowStates {
  /** The state of a notebook panel. */
  get(panel: NotebookPanel): FlowState | undefined;
  /** The state of the active notebook. */
  readonly current: FlowState | null;
  /** Emits a state when its notebook opens. */
  readonly added: ISignal<IFlowStates, FlowState>;
  /** Emits when the active notebook changes. */
  readonly currentChanged: ISignal<IFlowStates, FlowState | null>;
}

/** The flow states service. */
export const IFlowStates = new Token<IFlowStates>(
  'jupyter-metaflow:IFlowStates',
  'The live flow (model, statuses, stale steps) of each open notebook.'
);

/** Creates a {@link FlowState} for every notebook the tracker sees. */
export class FlowStates implements IFlowStates {
  constructor(
    private readonly _tracker: INotebookTracker,
    private readonly _links: IKernelLinks,
    private readonly _options: IFlowStateOptions
  ) {
    _tracker.widgetAdded.connect((_, panel) => this._track(panel));
    _tracker.currentChanged.connect(() => this._currentChanged.emit(this.current));
    _tracker.forEach(panel => this._track(panel));
    // Emitted before the execute request goes out on the same websocket.
    NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
      for (const [panel, state] of this._states) {
        if (panel.content === notebook) {
          state.executing();
          state.beforeExecution(cell.model.id);
        }
      }
    });
  }

  get(panel: NotebookPanel): FlowState | undefined {
    return this._states.get(panel);
  }

  get current(): FlowState | null {
    const panel = this._tracker.currentWidget;
    return (panel && this._states.get(panel)) ?? null;
  }

  get added(): ISignal<this, FlowState> {
    return this._added;
  }

  get currentChanged(): ISignal<this, FlowState | null> {
    return this._currentChanged;
  }

  /** A setting sent with the cells changed: every notebook's kernel gets it. */
  settingsChanged(): void {
    this._states.forEach(state => state.settingsChanged());
  }

  private async _track(panel: NotebookPanel): Promise<void> {
    if (this._states.has(panel)) {
      return;
    }
    await panel.context.ready;
    if (panel.isDisposed || this._states.has(panel)) {
      return;
    }
    const state = new FlowState(panel, this._links.get(panel) ?? null, this._options);
    this._states.set(panel, state);
    panel.disposed.connect(() => {
      state.dispose();
      this._states.delete(panel);
    });
    this._added.emit(state);
    if (this._tracker.currentWidget === panel) {
      this._currentChanged.emit(state);
    }
  }

  private _states = new Map<NotebookPanel, FlowState>();
  private _added = new Signal<this, FlowState>(this);
  private _currentChanged = new Signal<this, FlowState | null>(this);
}

namespace Private {
  // eslint-disable-next-line prefer-const -- incremented as a namespace member
  export let requestCounter = 0;
}
