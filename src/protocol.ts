/**
 * The frontend <-> kernel protocol, mirrored from its single definition in
 * python/jupyter_metaflow/protocol/schema.json (kept in sync by
 * src/__tests__/protocol.spec.ts).
 *
 * Every message on the comm is one envelope {protocol, type, payload}; peers
 * with the same MAJOR protocol version talk, unknown types are ignored.
 */

/** The protocol version this frontend speaks (MAJOR.MINOR). */
export const PROTOCOL_VERSION = '1.4';

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
