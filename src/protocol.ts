/**
 * The frontend <-> kernel protocol, mirrored from its single definition in
 * python/jupyter_metaflow/protocol/schema.json (kept in sync by
 * src/__tests__/protocol.spec.ts).
 *
 * Every message on the comm is one envelope {protocol, type, payload}; peers
 * with the same MAJOR protocol version talk, unknown types are ignored.
 */

/** The protocol version this frontend speaks (MAJOR.MINOR). */
export const PROTOCOL_VERSION = '1.5';

/** The comm target name, registered on both sides. */
export const COMM_TARGET = 'jupyter_metaflow';

/** Payloads by message type. */
export interface IMessagePayloads {
  hello: IHello;
  error: IError;
  flow: IFlow;
  flow_model: IFlowModelMessage;
  step_status: IStepStatus;
  run_state: IRunState;
  export: IExportRequest;
  export_result: IExportResult;
  artifact_page: IArtifactPage;
  artifact_page_result: IArtifactPageResult;
  runs: IRunsRequest;
  runs_result: IRunsResult;
  run_details: IRunDetailsRequest;
  run_details_result: IRunDetailsResult;
  step_details: IStepDetailsRequest;
  step_details_result: IStepDetailsResult;
  task_logs: ITaskLogsRequest;
  task_logs_result: ITaskLogsResult;
  show: IShowRequest;
  show_result: IShowResult;
  task_cards: ITaskCardsRequest;
  task_cards_result: ITaskCardsResult;
}

/** The panel's requests (since 1.5), by the type of their answer. */
export interface IPanelRequests {
  runs: [IRunsRequest, IRunsResult];
  run_details: [IRunDetailsRequest, IRunDetailsResult];
  step_details: [IStepDetailsRequest, IStepDetailsResult];
  task_logs: [ITaskLogsRequest, ITaskLogsResult];
  show: [IShowRequest, IShowResult];
  task_cards: [ITaskCardsRequest, ITaskCardsResult];
}

/** A message type of this protocol version. */
export type MessageType = keyof IMessagePayloads;

/** One message on the comm. */
export interface IEnvelope<T extends MessageType = MessageType> {
  protocol: string;
  type: T;
  payload: IMessagePayloads[T];
}

/** The handshake, sent by both sides. */
export interface IHello {
  side: 'kernel' | 'frontend';
  package_version: string;
  metaflow_version?: string;
}

/** A request could not be handled; `message` is untrusted text. */
export interface IError {
  message: string;
  in_reply_to?: string;
}

/** One notebook cell as sent to the kernel (`index` is 0-based). */
export interface INotebookCell {
  index: number;
  id: string | null;
  cell_type: string;
  source: string;
  tags: string[];
}

/** frontend -> kernel: the notebook's cells; answered by `flow_model`. */
export interface IFlow {
  /** Notebook path relative to the server root. */
  path: string;
  cells: INotebookCell[];
  /** Echoed in the answer when set. */
  request_id?: string;
}

/** A problem located in a cell; `message` and `fix` are untrusted text. */
export interface ICellError {
  code: string;
  cell_index: number | null;
  cell_id: string | null;
  /** 1-based line in the cell source, or null. */
  line: number | null;
  message: string;
  fix: string;
}

/**
 * `jupyter_metaflow.cells.FlowModel.to_json()`; the frontend's own assembly
 * produces the same shape (shared test vectors).
 */
export interface IFlowModelJSON {
  name: string;
  name_source?: string;
  doc?: string | null;
  flow?: {
    cell_index: number;
    cell_id: string | null;
    decorators: string[];
    param_args: string[];
    body_line: number;
  } | null;
  steps: Array<{
    name: string;
    cell_index: number;
    cell_id: string | null;
    decorators: string[];
    body_line: number;
    doc: string | null;
    transition: { [key: string]: unknown } | null;
    implied: boolean;
    is_join: boolean;
    parents: string[];
  }>;
  module_cells?: number[];
  scratch_cells?: number[];
  errors: ICellError[];
}

/** kernel -> frontend: the answer to `flow`. */
export interface IFlowModelMessage {
  path: string;
  model: IFlowModelJSON;
  /** Errors of Metaflow's own graph checks (metaflow.lint), mapped to cells. */
  lint_errors: ICellError[];
  request_id?: string;
}

/** The state of a step (or of one foreach split of it). */
export type StepState = 'queued' | 'running' | 'done' | 'failed' | 'skipped' | 'stale';

/** kernel -> frontend: a step (or one foreach split) changed state. */
export interface IStepStatus {
  flow?: string;
  run_id: string | null;
  /** Untrusted text. */
  step: string;
  state: StepState;
  split_index?: number;
  num_splits?: number;
  /** In `run_state` only: a foreach step's finished split indices (the status is the whole step's); since 1.4. */
  done_splits?: number[];
  duration_ms?: number;
  artifact_count?: number;
  /**
   * A switch step: its tasks in the run (foreach splits, recursive iterations) by
   * the step they chose, target step -> number of tasks; since 1.5.
   */
  switch_counts?: { [target: string]: number };
  /** The exact cell source the run used (for stale detection). */
  source?: string;
  cell_id?: string | null;
  /** Untrusted text. */
  error?: string;
}

/** kernel -> frontend: snapshot of the current run, sent on connect. */
export interface IRunState {
  flow: string | null;
  run_id: string | null;
  steps: { [step: string]: IStepStatus };
}

/** frontend -> kernel: export the notebook to a flow file; answered by `export_result`. */
export interface IExportRequest {
  /** Notebook path relative to the server root. */
  path: string;
  /** Relative to the notebook's folder; default: the notebook's name with `.py`. */
  output?: string;
  /** Overwrite an existing file with other content. */
  force?: boolean;
  request_id?: string;
}

/** kernel -> frontend: the answer to `export`; `error` is untrusted text. */
export interface IExportResult {
  ok: boolean;
  /** A server path when the file lies under the notebook's folder. */
  output_path?: string;
  /** False when the file already held exactly this flow (nothing written); since 1.3. */
  written?: boolean;
  error?: string;
  request_id?: string;
}

/** Rows of a frame as text: `index[i]` labels `cells[i]`, the row at `start + i`. */
export interface IFrameRows {
  start: number;
  index: string[];
  cells: string[][];
}

/** frontend -> kernel: one page of a `%mf_show` frame artifact of task `pathspec`. */
export interface IArtifactPage {
  request_id: string;
  pathspec: string;
  artifact: string;
  offset: number;
  limit: number;
}

/** kernel -> frontend: the answer to `artifact_page`; `rows` or `error` (untrusted text). */
export interface IArtifactPageResult {
  request_id: string;
  pathspec: string;
  artifact: string;
  offset?: number;
  total?: number;
  rows?: IFrameRows;
  error?: string;
}

/** One run in the run browser (metadata only); times are ISO 8601. */
export interface IRunSummary {
  pathspec: string;
  id: string;
  /** notebook: steps run in a kernel; runtime: %mf_run; script: `python flow.py run`. */
  origin: 'notebook' | 'runtime' | 'script';
  status: 'successful' | 'failed' | 'unfinished';
  created_at?: string | null;
  finished_at?: string | null;
  duration_ms?: number;
  tags?: string[];
}

/** frontend -> kernel: the flow's runs, newest first. */
export interface IRunsRequest {
  request_id: string;
  flow?: string;
  limit?: number;
}

/** kernel -> frontend: the answer to `runs`. */
export interface IRunsResult {
  request_id: string;
  flow?: string;
  /** The notebook's current run (pathspec). */
  current?: string | null;
  runs?: IRunSummary[];
  error?: string;
}

/** frontend -> kernel: a run's parameters and step statuses. */
export interface IRunDetailsRequest {
  request_id: string;
  run?: string;
}

/** kernel -> frontend: the answer to `run_details`; parameter values are untrusted text. */
export interface IRunDetailsResult {
  request_id: string;
  run?: string;
  summary?: IRunSummary;
  parameters?: { [name: string]: string };
  steps?: { [step: string]: IStepStatus };
  error?: string;
}

/** frontend -> kernel: the tasks of a step in a run (default: the current run). */
export interface IStepDetailsRequest {
  request_id: string;
  step: string;
  run?: string;
}

/** One task of a step; `input`, `error` are untrusted text. */
export interface ITaskSummary {
  pathspec: string;
  id: string;
  label: string;
  state: 'running' | 'done' | 'failed';
  started_at?: string | null;
  finished_at?: string | null;
  duration_ms?: number;
  index?: number[];
  input?: string;
  next?: string;
  error?: string;
}

/** kernel -> frontend: the answer to `step_details`. */
export interface IStepDetailsResult {
  request_id: string;
  run?: string;
  step?: string;
  tasks?: ITaskSummary[];
  tasks_omitted?: number;
  cards?: boolean;
  error?: string;
}

/** frontend -> kernel: a task's logs. */
export interface ITaskLogsRequest {
  request_id: string;
  pathspec: string;
}

/** kernel -> frontend: the ends of a task's logs (untrusted text). */
export interface ITaskLogsResult {
  request_id: string;
  pathspec?: string;
  stdout?: string;
  stderr?: string;
  stdout_omitted?: number;
  stderr_omitted?: number;
  error?: string;
}

/** frontend -> kernel: the %mf_show view of an address, or of the diff of two runs. */
export interface IShowRequest {
  request_id: string;
  address?: string;
  diff?: [string, string];
  max_kb?: number;
}

/** kernel -> frontend: the %mf_show JSON (application/vnd.jupyter-metaflow.artifact+json). */
export interface IShowResult {
  request_id: string;
  data?: { [key: string]: unknown };
  error?: string;
}

/** frontend -> kernel: a task's cards. */
export interface ITaskCardsRequest {
  request_id: string;
  pathspec: string;
}

/** kernel -> frontend: a task's cards; `html` is untrusted (sandboxed iframe only). */
export interface ITaskCardsResult {
  request_id: string;
  pathspec?: string;
  cards?: Array<{ type: string; html: string }>;
  error?: string;
}

/** Wrap a payload in an envelope of this protocol version. */
export function envelope<T extends MessageType>(
  type: T,
  payload: IMessagePayloads[T]
): IEnvelope<T> {
  return { protocol: PROTOCOL_VERSION, type, payload };
}

/** Whether a peer speaking `version` can talk to us (same major version). */
export function isCompatible(version: string): boolean {
  return version.split('.')[0] === PROTOCOL_VERSION.split('.')[0];
}

/**
 * Check that `data` is an envelope of a compatible version; return it typed,
 * or null for anything else (including unknown message types).
 */
export function parseEnvelope(data: unknown): IEnvelope | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const msg = data as Record<string, unknown>;
  if (
    typeof msg.protocol !== 'string' ||
    typeof msg.type !== 'string' ||
    typeof msg.payload !== 'object' ||
    msg.payload === null ||
    !isCompatible(msg.protocol)
  ) {
    return null;
  }
  return msg as unknown as IEnvelope;
}
