/**
 * GENERATED from python/jupyter_metaflow/protocol/schema.json by scripts/schema-to-ts.js:
 * do not edit. Change the schema, then run `npm run build:schema`.
 */

/**
 * The payload of each message type of this protocol version.
 */
export interface IMessagePayloads {
  hello: IHelloMessage;
  error: IErrorMessage;
  flow: IFlowMessage;
  flow_model: IFlowModelMessage;
  step_status: IStepStatusMessage;
  run_state: IRunStateMessage;
  export: IExportMessage;
  export_result: IExportResultMessage;
  artifact_page: IArtifactPageMessage;
  artifact_page_result: IArtifactPageResultMessage;
  runs: IRunsMessage;
  runs_result: IRunsResultMessage;
  run_details: IRunDetailsMessage;
  run_details_result: IRunDetailsResultMessage;
  step_details: IStepDetailsMessage;
  step_details_result: IStepDetailsResultMessage;
  task_logs: ITaskLogsMessage;
  task_logs_result: ITaskLogsResultMessage;
  show: IShowMessage;
  show_result: IShowResultMessage;
  task_cards: ITaskCardsMessage;
  task_cards_result: ITaskCardsResultMessage;
  use_run: IUseRunMessage;
  use_run_result: IUseRunResultMessage;
}
/**
 * Handshake, sent by both sides. 'side' says who sent it; 'package_version' is the sender's jupyter-metaflow version; 'metaflow_version' is set by the kernel only.
 */
export interface IHelloMessage {
  side: 'kernel' | 'frontend';
  package_version: string;
  metaflow_version?: string;
}
/**
 * A request could not be handled. 'message' is untrusted text: render it as text.
 */
export interface IErrorMessage {
  message: string;
  /**
   * The type of the request that failed.
   */
  in_reply_to?: string;
  /**
   * The failed request's request_id, when it had one: the frontend's wait for that request ends with this error.
   */
  request_id?: string;
}
/**
 * frontend -> kernel: the notebook's cells, sent on connect and after each edit pause. The kernel assembles them with jupyter_metaflow.cells (so tagged cells run as steps), answers 'flow_model', and marks steps whose code changed since their last run 'stale' (step_status). 'request_id', when set, is echoed in the answer.
 */
export interface IFlowMessage {
  /**
   * Notebook path relative to the server root.
   */
  path: string;
  cells: INotebookCell[];
  request_id?: string;
  /**
   * The JupyterLab setting 'Maximum workers': at most this many worker processes run a step's tasks (foreach splits) at once, unless the %%flow line says --max-workers; null when the setting is not set (then METAFLOW_RUN_MAX_WORKERS, else the machine's cores). Since 1.8.
   */
  max_workers?: number | null;
}
/**
 * One notebook cell as the frontend sees it: 'index' is its 0-based position, 'id' the nbformat cell id, 'tags' the cell's metadata tags.
 */
export interface INotebookCell {
  index: number;
  id: string | null;
  cell_type: string;
  source: string;
  tags: string[];
}
/**
 * kernel -> frontend, the answer to 'flow': 'model' is jupyter_metaflow.cells.FlowModel.to_json() (steps, transitions, joins, cell-rule errors in model.errors); 'lint_errors' are the errors Metaflow's own graph checks (metaflow.lint) report on the assembled flow, mapped to cell id + line (empty when the cell rules already failed, since Metaflow's linter cannot run then).
 */
export interface IFlowModelMessage {
  path: string;
  model: IFlowModel;
  lint_errors: ICellError[];
  request_id?: string;
}
/**
 * The flow a notebook's cells describe: jupyter_metaflow.cells.FlowModel.to_json(), also what the frontend's own assembly (src/assembly.ts) produces. 'module_cells' and 'scratch_cells' are cell indexes; 'errors' the cell-rule errors.
 */
export interface IFlowModel {
  name: string;
  name_source: 'magic' | 'tag' | 'notebook' | 'default';
  doc: string | null;
  flow: IFlowCell | null;
  steps: IStep[];
  module_cells: number[];
  scratch_cells: number[];
  errors: ICellError[];
}
/**
 * The %%flow (or flow:NAME tagged) cell: its flow decorators, the parameter options of its magic line, and the cell line (1-based) where the class body starts.
 */
export interface IFlowCell {
  cell_index: number;
  cell_id: string | null;
  decorators: string[];
  param_args: string[];
  body_line: number;
}
/**
 * One step of the assembled flow, in notebook order. 'body_line' is the cell line (1-based) where the step's body starts; 'doc' the markdown cell right above; 'transition' the step's self.next (implied ones resolved, 'implied' true when the cell has none); 'parents' the steps that go to it. 'name' and 'doc' are untrusted text.
 */
export interface IStep {
  name: string;
  cell_index: number;
  cell_id: string | null;
  decorators: string[];
  body_line: number;
  doc: string | null;
  transition: ITransition | null;
  implied: boolean;
  is_join: boolean;
  parents: string[];
}
/**
 * A step's self.next(...) (jupyter_metaflow.cells.Transition.to_json()). 'kind' linear: one target; split: several; foreach: one target, 'foreach' names the artifact; num_parallel: one target, 'num_parallel' the count (null when not a literal); switch: 'cases' maps each case value (as a string) to a target, 'condition' names the artifact, 'targets' lists the case targets in order. 'line' is the 1-based cell line of the self.next call (null for implied transitions).
 */
export interface ITransition {
  kind: 'linear' | 'split' | 'foreach' | 'num_parallel' | 'switch';
  targets: string[];
  foreach: string | null;
  condition: string | null;
  cases: {
    [k: string]: string;
  } | null;
  num_parallel: number | null;
  line: number | null;
}
/**
 * A problem located in a cell: 'line' is 1-based in the cell source (or null); 'message' and 'fix' are untrusted text, render them as text.
 */
export interface ICellError {
  code: string;
  cell_index: number | null;
  cell_id: string | null;
  line: number | null;
  message: string;
  fix: string;
}
/**
 * kernel -> frontend: one step (or one foreach split of it: 'split_index' of 'num_splits') changed state. 'source' is the exact cell source the run used (compare it with the cell to detect staleness); 'error' and 'step' are untrusted text. 'stale' means the cell's code (or an upstream step's) differs from what the last run used.
 */
export interface IStepStatusMessage {
  flow?: string;
  run_id: string | null;
  step: string;
  state: 'queued' | 'running' | 'done' | 'failed' | 'skipped' | 'stale';
  split_index?: number;
  num_splits?: number;
  /**
   * In 'run_state' only (since 1.4): the indices of a foreach step's finished splits; the status is then the step's as a whole (no 'split_index'; 'duration_ms' is its wall time: from its first split's start to its last split's end).
   */
  done_splits?: number[];
  duration_ms?: number;
  /**
   * Since 1.9, for a task of a step with several tasks (foreach splits): the time from the start of the step's execution to this task's end, so the step's wall time once its last task ends (splits may run side by side; 'duration_ms' is this task's own time).
   */
  elapsed_ms?: number;
  artifact_count?: number;
  source?: string;
  cell_id?: string | null;
  error?: string;
  /**
   * A switch step: its tasks in the run (foreach splits, recursive iterations) by the step they chose: target step -> number of tasks. Since 1.5.
   */
  switch_counts?: {
    [k: string]: number;
  };
}
/**
 * kernel -> frontend, sent when a frontend connects (after 'hello') and on request: the current flow and run, with the last 'step_status' of every step the kernel knows. 'flow' and 'run_id' are null before anything ran.
 */
export interface IRunStateMessage {
  flow: string | null;
  run_id: string | null;
  steps: {
    [k: string]: IStepStatusMessage;
  };
}
/**
 * frontend -> kernel: export the notebook at 'path' to a flow file through jupyter_metaflow.export (the one exporter). 'output' is relative to the notebook's folder and defaults to the notebook's name with .py (train.ipynb -> train.py); an existing file with other content is only overwritten with 'force'. The answer's 'output_path' is a server path when the file lies under the notebook's folder.
 */
export interface IExportMessage {
  path: string;
  output?: string;
  force?: boolean;
  request_id?: string;
}
/**
 * kernel -> frontend, the answer to 'export': 'output_path' on success ('written' false when the file already held exactly this flow), 'error' (untrusted text naming the cell and the fix) otherwise, with 'exists' true when the output file holds other content.
 */
export interface IExportResultMessage {
  ok: boolean;
  output_path?: string;
  written?: boolean;
  /**
   * Since 1.6: true when nothing was written because a file with other content is at the output path and 'force' was not set (ask the user, then send 'export' again with 'force'); false otherwise.
   */
  exists?: boolean;
  error?: string;
  request_id?: string;
}
/**
 * frontend -> kernel: rows [offset, offset+limit) of the DataFrame/Series artifact 'artifact' of task 'pathspec' (Flow/Run/step/task), for the %mf_show renderer's pager. The kernel caps 'limit'.
 */
export interface IArtifactPageMessage {
  request_id: string;
  pathspec: string;
  artifact: string;
  offset: number;
  limit: number;
}
/**
 * kernel -> frontend, the answer to 'artifact_page': 'rows' (cells as untrusted text, by row) and 'total' (rows in the frame), or 'error' (untrusted text).
 */
export interface IArtifactPageResultMessage {
  request_id: string;
  pathspec: string;
  artifact: string;
  offset?: number;
  total?: number;
  rows?: IFrameRows;
  error?: string;
}
/**
 * Rows of a frame as untrusted text: 'index[i]' labels 'cells[i]', the row at 'start + i'.
 */
export interface IFrameRows {
  start: number;
  index: string[];
  cells: string[][];
}
/**
 * frontend -> kernel: the flow's runs ('flow', default the notebook's), newest first, at most 'limit'; answered by 'runs_result'.
 */
export interface IRunsMessage {
  request_id: string;
  flow?: string;
  limit?: number;
}
/**
 * kernel -> frontend: the answer to 'runs'; 'current' is the notebook's current run (pathspec) or null.
 */
export interface IRunsResultMessage {
  request_id: string;
  flow?: string;
  current?: string | null;
  runs?: IRunSummary[];
  error?: string;
}
/**
 * One run as the run browser lists it (metadata only). 'origin': 'notebook' (steps run in a kernel), 'runtime' (%mf_run or a runtime-path step), 'script' (Metaflow's runtime on a flow file). 'status': 'successful' when the end task succeeded, 'failed' when any task raised (as the run's DAG shows), else 'unfinished'. Times are ISO 8601.
 */
export interface IRunSummary {
  pathspec: string;
  id: string;
  origin: 'notebook' | 'runtime' | 'script';
  status: 'successful' | 'failed' | 'unfinished';
  created_at?: string | null;
  finished_at?: string | null;
  duration_ms?: number;
  tags?: string[];
}
/**
 * frontend -> kernel: a run's parameters and step statuses ('run': Flow/run_id, default the notebook's current run); answered by 'run_details_result'.
 */
export interface IRunDetailsMessage {
  request_id: string;
  run?: string;
}
/**
 * kernel -> frontend: the answer to 'run_details'. 'parameters': name -> short text of the value (untrusted); 'steps': step -> its status in that run.
 */
export interface IRunDetailsResultMessage {
  request_id: string;
  run?: string;
  summary?: IRunSummary;
  parameters?: {
    [k: string]: string;
  };
  steps?: {
    [k: string]: IStepStatusMessage;
  };
  error?: string;
}
/**
 * frontend -> kernel: the tasks of 'step' in 'run' (default the notebook's current run); answered by 'step_details_result'.
 */
export interface IStepDetailsMessage {
  request_id: string;
  step: string;
  run?: string;
}
/**
 * kernel -> frontend: the answer to 'step_details'; 'cards': whether the step's tasks have Metaflow cards.
 */
export interface IStepDetailsResultMessage {
  request_id: string;
  run?: string;
  step?: string;
  tasks?: ITaskSummary[];
  tasks_omitted?: number;
  cards?: boolean;
  error?: string;
}
/**
 * One task of a step. 'label': its foreach position ([2], [1][0]) and recursion iteration, or 'task ID'; 'index': its foreach position; 'input': the foreach item it got (self.input, as Metaflow recorded it; untrusted text); 'next': the step a switch task chose; 'error': untrusted text.
 */
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
/**
 * frontend -> kernel: a task's stdout and stderr; answered by 'task_logs_result'.
 */
export interface ITaskLogsMessage {
  request_id: string;
  pathspec: string;
}
/**
 * kernel -> frontend: the answer to 'task_logs': the ends of the logs (untrusted text); '*_omitted': characters left out before them.
 */
export interface ITaskLogsResultMessage {
  request_id: string;
  pathspec?: string;
  stdout?: string;
  stderr?: string;
  stdout_omitted?: number;
  stderr_omitted?: number;
  error?: string;
}
/**
 * frontend -> kernel: the %mf_show view of 'address' (as the magic takes it: STEP, STEP.NAME, a pathspec...), or with 'diff' the comparison of two runs; answered by 'show_result'.
 */
export interface IShowMessage {
  request_id: string;
  address?: string;
  /**
   * @minItems 2
   * @maxItems 2
   */
  diff?: [string, string];
  max_kb?: number;
}
/**
 * kernel -> frontend: the answer to 'show': 'data', the application/vnd.jupyter-metaflow.artifact+json object %mf_show displays (its texts untrusted).
 */
export interface IShowResultMessage {
  request_id: string;
  data?: {};
  error?: string;
}
/**
 * frontend -> kernel: the cards of a task; answered by 'task_cards_result'.
 */
export interface ITaskCardsMessage {
  request_id: string;
  pathspec: string;
}
/**
 * kernel -> frontend: the answer to 'task_cards': each card's type and HTML (untrusted: shown only in a sandboxed iframe; empty when too big).
 */
export interface ITaskCardsResultMessage {
  request_id: string;
  pathspec?: string;
  cards?: {
    type: string;
    html: string;
  }[];
  error?: string;
}
/**
 * frontend -> kernel: make 'run' (Flow/run_id, a run of the notebook's flow) the notebook's current run: the next step attaches to it; every frontend then gets its 'run_state'. Answered by 'use_run_result'. Since 1.7.
 */
export interface IUseRunMessage {
  request_id: string;
  run: string;
}
/**
 * kernel -> frontend: the answer to 'use_run': the run now current, or an untrusted 'error' text. Since 1.7.
 */
export interface IUseRunResultMessage {
  request_id: string;
  run?: string;
  error?: string;
}

/** The protocol's JSON Schema, as in schema.json. */
export const PROTOCOL_SCHEMA: { [key: string]: unknown } = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/jupyter-metaflow/jupyter-metaflow/protocol/schema.json',
  title: 'jupyter-metaflow frontend <-> kernel protocol',
  description:
    "Every message on the 'jupyter_metaflow' comm is one envelope {protocol, type, payload}. 'protocol' is MAJOR.MINOR: peers with the same MAJOR talk; a MINOR bump only adds optional fields or message types, which receivers ignore when unknown. Either side may open the comm: the kernel when %load_ext jupyter_metaflow runs, the frontend when it finds a kernel. The opener sends 'hello' as the comm_open data; the other side answers 'hello' back on the comm. New message types and optional fields are added here with a MINOR bump. 1.1 adds the live flow: 'flow' -> 'flow_model', 'step_status', 'run_state', 'export' -> 'export_result'. 1.2 adds paging of %mf_show frames: 'artifact_page' -> 'artifact_page_result'. 1.3 adds 'written' to 'export_result'. 1.4 adds 'done_splits' to a foreach step's status in 'run_state'. 1.5 adds the DAG panel's requests, each answered with its '_result' (or an untrusted 'error' text): 'runs', 'run_details', 'step_details', 'task_logs', 'show', 'task_cards'; and 'switch_counts' to a switch step's status. 1.6 adds 'exists' to 'export_result' and defines the flow model's steps and transitions. 1.7 adds 'use_run' -> 'use_run_result': make a run of the flow the notebook's current run. 1.8 adds 'max_workers' (the JupyterLab setting) to 'flow'. 1.9 adds 'elapsed_ms' to the status of a task of a step with several tasks (the step's wall time so far).",
  version: '1.9',
  definitions: {
    envelope: {
      type: 'object',
      required: ['protocol', 'type', 'payload'],
      properties: {
        protocol: { type: 'string', pattern: '^[0-9]+\\.[0-9]+$' },
        type: { type: 'string' },
        payload: { type: 'object' }
      }
    },
    hello: {
      description:
        "Handshake, sent by both sides. 'side' says who sent it; 'package_version' is the sender's jupyter-metaflow version; 'metaflow_version' is set by the kernel only.",
      type: 'object',
      required: ['side', 'package_version'],
      properties: {
        side: { enum: ['kernel', 'frontend'] },
        package_version: { type: 'string' },
        metaflow_version: { type: 'string' }
      }
    },
    error: {
      description:
        "A request could not be handled. 'message' is untrusted text: render it as text.",
      type: 'object',
      required: ['message'],
      properties: {
        message: { type: 'string' },
        in_reply_to: { description: 'The type of the request that failed.', type: 'string' },
        request_id: {
          description:
            "The failed request's request_id, when it had one: the frontend's wait for that request ends with this error.",
          type: 'string'
        }
      }
    },
    notebookCell: {
      description:
        "One notebook cell as the frontend sees it: 'index' is its 0-based position, 'id' the nbformat cell id, 'tags' the cell's metadata tags.",
      type: 'object',
      required: ['index', 'id', 'cell_type', 'source', 'tags'],
      properties: {
        index: { type: 'integer', minimum: 0 },
        id: { type: ['string', 'null'] },
        cell_type: { type: 'string' },
        source: { type: 'string' },
        tags: { type: 'array', items: { type: 'string' } }
      }
    },
    flow: {
      description:
        "frontend -> kernel: the notebook's cells, sent on connect and after each edit pause. The kernel assembles them with jupyter_metaflow.cells (so tagged cells run as steps), answers 'flow_model', and marks steps whose code changed since their last run 'stale' (step_status). 'request_id', when set, is echoed in the answer.",
      type: 'object',
      required: ['path', 'cells'],
      properties: {
        path: { type: 'string', description: 'Notebook path relative to the server root.' },
        cells: { type: 'array', items: { $ref: '#/definitions/notebookCell' } },
        request_id: { type: 'string' },
        max_workers: {
          description:
            "The JupyterLab setting 'Maximum workers': at most this many worker processes run a step's tasks (foreach splits) at once, unless the %%flow line says --max-workers; null when the setting is not set (then METAFLOW_RUN_MAX_WORKERS, else the machine's cores). Since 1.8.",
          oneOf: [{ type: 'integer', minimum: 1 }, { type: 'null' }]
        }
      }
    },
    cellError: {
      description:
        "A problem located in a cell: 'line' is 1-based in the cell source (or null); 'message' and 'fix' are untrusted text, render them as text.",
      type: 'object',
      required: ['code', 'cell_index', 'cell_id', 'line', 'message', 'fix'],
      properties: {
        code: { type: 'string' },
        cell_index: { type: ['integer', 'null'] },
        cell_id: { type: ['string', 'null'] },
        line: { type: ['integer', 'null'] },
        message: { type: 'string' },
        fix: { type: 'string' }
      }
    },
    transition: {
      description:
        "A step's self.next(...) (jupyter_metaflow.cells.Transition.to_json()). 'kind' linear: one target; split: several; foreach: one target, 'foreach' names the artifact; num_parallel: one target, 'num_parallel' the count (null when not a literal); switch: 'cases' maps each case value (as a string) to a target, 'condition' names the artifact, 'targets' lists the case targets in order. 'line' is the 1-based cell line of the self.next call (null for implied transitions).",
      type: 'object',
      required: ['kind', 'targets', 'foreach', 'condition', 'cases', 'num_parallel', 'line'],
      properties: {
        kind: { enum: ['linear', 'split', 'foreach', 'num_parallel', 'switch'] },
        targets: { type: 'array', items: { type: 'string' } },
        foreach: { type: ['string', 'null'] },
        condition: { type: ['string', 'null'] },
        cases: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
        num_parallel: { type: ['integer', 'null'] },
        line: { type: ['integer', 'null'], minimum: 1 }
      }
    },
    step: {
      description:
        "One step of the assembled flow, in notebook order. 'body_line' is the cell line (1-based) where the step's body starts; 'doc' the markdown cell right above; 'transition' the step's self.next (implied ones resolved, 'implied' true when the cell has none); 'parents' the steps that go to it. 'name' and 'doc' are untrusted text.",
      type: 'object',
      required: [
        'name',
        'cell_index',
        'cell_id',
        'decorators',
        'body_line',
        'doc',
        'transition',
        'implied',
        'is_join',
        'parents'
      ],
      properties: {
        name: { type: 'string' },
        cell_index: { type: 'integer', minimum: 0 },
        cell_id: { type: ['string', 'null'] },
        decorators: { type: 'array', items: { type: 'string' } },
        body_line: { type: 'integer', minimum: 1 },
        doc: { type: ['string', 'null'] },
        transition: { oneOf: [{ $ref: '#/definitions/transition' }, { type: 'null' }] },
        implied: { type: 'boolean' },
        is_join: { type: 'boolean' },
        parents: { type: 'array', items: { type: 'string' } }
      }
    },
    flowCell: {
      description:
        'The %%flow (or flow:NAME tagged) cell: its flow decorators, the parameter options of its magic line, and the cell line (1-based) where the class body starts.',
      type: 'object',
      required: ['cell_index', 'cell_id', 'decorators', 'param_args', 'body_line'],
      properties: {
        cell_index: { type: 'integer', minimum: 0 },
        cell_id: { type: ['string', 'null'] },
        decorators: { type: 'array', items: { type: 'string' } },
        param_args: { type: 'array', items: { type: 'string' } },
        body_line: { type: 'integer', minimum: 1 }
      }
    },
    flowModel: {
      description:
        "The flow a notebook's cells describe: jupyter_metaflow.cells.FlowModel.to_json(), also what the frontend's own assembly (src/assembly.ts) produces. 'module_cells' and 'scratch_cells' are cell indexes; 'errors' the cell-rule errors.",
      type: 'object',
      required: [
        'name',
        'name_source',
        'doc',
        'flow',
        'steps',
        'module_cells',
        'scratch_cells',
        'errors'
      ],
      properties: {
        name: { type: 'string' },
        name_source: { enum: ['magic', 'tag', 'notebook', 'default'] },
        doc: { type: ['string', 'null'] },
        flow: { oneOf: [{ $ref: '#/definitions/flowCell' }, { type: 'null' }] },
        steps: { type: 'array', items: { $ref: '#/definitions/step' } },
        module_cells: { type: 'array', items: { type: 'integer', minimum: 0 } },
        scratch_cells: { type: 'array', items: { type: 'integer', minimum: 0 } },
        errors: { type: 'array', items: { $ref: '#/definitions/cellError' } }
      }
    },
    flow_model: {
      description:
        "kernel -> frontend, the answer to 'flow': 'model' is jupyter_metaflow.cells.FlowModel.to_json() (steps, transitions, joins, cell-rule errors in model.errors); 'lint_errors' are the errors Metaflow's own graph checks (metaflow.lint) report on the assembled flow, mapped to cell id + line (empty when the cell rules already failed, since Metaflow's linter cannot run then).",
      type: 'object',
      required: ['path', 'model', 'lint_errors'],
      properties: {
        path: { type: 'string' },
        model: { $ref: '#/definitions/flowModel' },
        lint_errors: { type: 'array', items: { $ref: '#/definitions/cellError' } },
        request_id: { type: 'string' }
      }
    },
    step_status: {
      description:
        "kernel -> frontend: one step (or one foreach split of it: 'split_index' of 'num_splits') changed state. 'source' is the exact cell source the run used (compare it with the cell to detect staleness); 'error' and 'step' are untrusted text. 'stale' means the cell's code (or an upstream step's) differs from what the last run used.",
      type: 'object',
      required: ['run_id', 'step', 'state'],
      properties: {
        flow: { type: 'string' },
        run_id: { type: ['string', 'null'] },
        step: { type: 'string' },
        state: { enum: ['queued', 'running', 'done', 'failed', 'skipped', 'stale'] },
        split_index: { type: 'integer', minimum: 0 },
        num_splits: { type: 'integer', minimum: 0 },
        done_splits: {
          description:
            "In 'run_state' only (since 1.4): the indices of a foreach step's finished splits; the status is then the step's as a whole (no 'split_index'; 'duration_ms' is its wall time: from its first split's start to its last split's end).",
          type: 'array',
          items: { type: 'integer', minimum: 0 }
        },
        duration_ms: { type: 'number', minimum: 0 },
        elapsed_ms: {
          description:
            "Since 1.9, for a task of a step with several tasks (foreach splits): the time from the start of the step's execution to this task's end, so the step's wall time once its last task ends (splits may run side by side; 'duration_ms' is this task's own time).",
          type: 'number',
          minimum: 0
        },
        artifact_count: { type: 'integer', minimum: 0 },
        source: { type: 'string' },
        cell_id: { type: ['string', 'null'] },
        error: { type: 'string' },
        switch_counts: {
          description:
            'A switch step: its tasks in the run (foreach splits, recursive iterations) by the step they chose: target step -> number of tasks. Since 1.5.',
          type: 'object',
          additionalProperties: { type: 'integer', minimum: 0 }
        }
      }
    },
    run_state: {
      description:
        "kernel -> frontend, sent when a frontend connects (after 'hello') and on request: the current flow and run, with the last 'step_status' of every step the kernel knows. 'flow' and 'run_id' are null before anything ran.",
      type: 'object',
      required: ['flow', 'run_id', 'steps'],
      properties: {
        flow: { type: ['string', 'null'] },
        run_id: { type: ['string', 'null'] },
        steps: { type: 'object', additionalProperties: { $ref: '#/definitions/step_status' } }
      }
    },
    export: {
      description:
        "frontend -> kernel: export the notebook at 'path' to a flow file through jupyter_metaflow.export (the one exporter). 'output' is relative to the notebook's folder and defaults to the notebook's name with .py (train.ipynb -> train.py); an existing file with other content is only overwritten with 'force'. The answer's 'output_path' is a server path when the file lies under the notebook's folder.",
      type: 'object',
      required: ['path'],
      properties: {
        path: { type: 'string' },
        output: { type: 'string' },
        force: { type: 'boolean' },
        request_id: { type: 'string' }
      }
    },
    export_result: {
      description:
        "kernel -> frontend, the answer to 'export': 'output_path' on success ('written' false when the file already held exactly this flow), 'error' (untrusted text naming the cell and the fix) otherwise, with 'exists' true when the output file holds other content.",
      type: 'object',
      required: ['ok'],
      properties: {
        ok: { type: 'boolean' },
        output_path: { type: 'string' },
        written: { type: 'boolean' },
        exists: {
          description:
            "Since 1.6: true when nothing was written because a file with other content is at the output path and 'force' was not set (ask the user, then send 'export' again with 'force'); false otherwise.",
          type: 'boolean'
        },
        error: { type: 'string' },
        request_id: { type: 'string' }
      }
    },
    artifact_page: {
      description:
        "frontend -> kernel: rows [offset, offset+limit) of the DataFrame/Series artifact 'artifact' of task 'pathspec' (Flow/Run/step/task), for the %mf_show renderer's pager. The kernel caps 'limit'.",
      type: 'object',
      required: ['request_id', 'pathspec', 'artifact', 'offset', 'limit'],
      properties: {
        request_id: { type: 'string' },
        pathspec: { type: 'string' },
        artifact: { type: 'string' },
        offset: { type: 'integer', minimum: 0 },
        limit: { type: 'integer', minimum: 0 }
      }
    },
    frameRows: {
      description:
        "Rows of a frame as untrusted text: 'index[i]' labels 'cells[i]', the row at 'start + i'.",
      type: 'object',
      required: ['start', 'index', 'cells'],
      properties: {
        start: { type: 'integer', minimum: 0 },
        index: { type: 'array', items: { type: 'string' } },
        cells: { type: 'array', items: { type: 'array', items: { type: 'string' } } }
      }
    },
    artifact_page_result: {
      description:
        "kernel -> frontend, the answer to 'artifact_page': 'rows' (cells as untrusted text, by row) and 'total' (rows in the frame), or 'error' (untrusted text).",
      type: 'object',
      required: ['request_id', 'pathspec', 'artifact'],
      properties: {
        request_id: { type: 'string' },
        pathspec: { type: 'string' },
        artifact: { type: 'string' },
        offset: { type: 'integer', minimum: 0 },
        total: { type: 'integer', minimum: 0 },
        rows: { $ref: '#/definitions/frameRows' },
        error: { type: 'string' }
      }
    },
    run_summary: {
      description:
        "One run as the run browser lists it (metadata only). 'origin': 'notebook' (steps run in a kernel), 'runtime' (%mf_run or a runtime-path step), 'script' (Metaflow's runtime on a flow file). 'status': 'successful' when the end task succeeded, 'failed' when any task raised (as the run's DAG shows), else 'unfinished'. Times are ISO 8601.",
      type: 'object',
      required: ['pathspec', 'id', 'origin', 'status'],
      properties: {
        pathspec: { type: 'string' },
        id: { type: 'string' },
        origin: { enum: ['notebook', 'runtime', 'script'] },
        status: { enum: ['successful', 'failed', 'unfinished'] },
        created_at: { type: ['string', 'null'] },
        finished_at: { type: ['string', 'null'] },
        duration_ms: { type: 'number' },
        tags: { type: 'array', items: { type: 'string' } }
      }
    },
    runs: {
      description:
        "frontend -> kernel: the flow's runs ('flow', default the notebook's), newest first, at most 'limit'; answered by 'runs_result'.",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        flow: { type: 'string' },
        limit: { type: 'integer', minimum: 1 }
      }
    },
    runs_result: {
      description:
        "kernel -> frontend: the answer to 'runs'; 'current' is the notebook's current run (pathspec) or null.",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        flow: { type: 'string' },
        current: { type: ['string', 'null'] },
        runs: { type: 'array', items: { $ref: '#/definitions/run_summary' } },
        error: { type: 'string' }
      }
    },
    run_details: {
      description:
        "frontend -> kernel: a run's parameters and step statuses ('run': Flow/run_id, default the notebook's current run); answered by 'run_details_result'.",
      type: 'object',
      required: ['request_id'],
      properties: { request_id: { type: 'string' }, run: { type: 'string' } }
    },
    run_details_result: {
      description:
        "kernel -> frontend: the answer to 'run_details'. 'parameters': name -> short text of the value (untrusted); 'steps': step -> its status in that run.",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        run: { type: 'string' },
        summary: { $ref: '#/definitions/run_summary' },
        parameters: { type: 'object', additionalProperties: { type: 'string' } },
        steps: { type: 'object', additionalProperties: { $ref: '#/definitions/step_status' } },
        error: { type: 'string' }
      }
    },
    step_details: {
      description:
        "frontend -> kernel: the tasks of 'step' in 'run' (default the notebook's current run); answered by 'step_details_result'.",
      type: 'object',
      required: ['request_id', 'step'],
      properties: {
        request_id: { type: 'string' },
        step: { type: 'string' },
        run: { type: 'string' }
      }
    },
    task_summary: {
      description:
        "One task of a step. 'label': its foreach position ([2], [1][0]) and recursion iteration, or 'task ID'; 'index': its foreach position; 'input': the foreach item it got (self.input, as Metaflow recorded it; untrusted text); 'next': the step a switch task chose; 'error': untrusted text.",
      type: 'object',
      required: ['pathspec', 'id', 'label', 'state'],
      properties: {
        pathspec: { type: 'string' },
        id: { type: 'string' },
        label: { type: 'string' },
        state: { enum: ['running', 'done', 'failed'] },
        started_at: { type: ['string', 'null'] },
        finished_at: { type: ['string', 'null'] },
        duration_ms: { type: 'number' },
        index: { type: 'array', items: { type: 'integer' } },
        input: { type: 'string' },
        next: { type: 'string' },
        error: { type: 'string' }
      }
    },
    step_details_result: {
      description:
        "kernel -> frontend: the answer to 'step_details'; 'cards': whether the step's tasks have Metaflow cards.",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        run: { type: 'string' },
        step: { type: 'string' },
        tasks: { type: 'array', items: { $ref: '#/definitions/task_summary' } },
        tasks_omitted: { type: 'integer', minimum: 0 },
        cards: { type: 'boolean' },
        error: { type: 'string' }
      }
    },
    task_logs: {
      description:
        "frontend -> kernel: a task's stdout and stderr; answered by 'task_logs_result'.",
      type: 'object',
      required: ['request_id', 'pathspec'],
      properties: { request_id: { type: 'string' }, pathspec: { type: 'string' } }
    },
    task_logs_result: {
      description:
        "kernel -> frontend: the answer to 'task_logs': the ends of the logs (untrusted text); '*_omitted': characters left out before them.",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        pathspec: { type: 'string' },
        stdout: { type: 'string' },
        stderr: { type: 'string' },
        stdout_omitted: { type: 'integer' },
        stderr_omitted: { type: 'integer' },
        error: { type: 'string' }
      }
    },
    show: {
      description:
        "frontend -> kernel: the %mf_show view of 'address' (as the magic takes it: STEP, STEP.NAME, a pathspec...), or with 'diff' the comparison of two runs; answered by 'show_result'.",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        address: { type: 'string' },
        diff: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
        max_kb: { type: 'integer', minimum: 1 }
      }
    },
    show_result: {
      description:
        "kernel -> frontend: the answer to 'show': 'data', the application/vnd.jupyter-metaflow.artifact+json object %mf_show displays (its texts untrusted).",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        data: { type: 'object' },
        error: { type: 'string' }
      }
    },
    task_cards: {
      description: "frontend -> kernel: the cards of a task; answered by 'task_cards_result'.",
      type: 'object',
      required: ['request_id', 'pathspec'],
      properties: { request_id: { type: 'string' }, pathspec: { type: 'string' } }
    },
    task_cards_result: {
      description:
        "kernel -> frontend: the answer to 'task_cards': each card's type and HTML (untrusted: shown only in a sandboxed iframe; empty when too big).",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        pathspec: { type: 'string' },
        cards: {
          type: 'array',
          items: {
            type: 'object',
            required: ['type', 'html'],
            properties: { type: { type: 'string' }, html: { type: 'string' } }
          }
        },
        error: { type: 'string' }
      }
    },
    use_run: {
      description:
        "frontend -> kernel: make 'run' (Flow/run_id, a run of the notebook's flow) the notebook's current run: the next step attaches to it; every frontend then gets its 'run_state'. Answered by 'use_run_result'. Since 1.7.",
      type: 'object',
      required: ['request_id', 'run'],
      properties: { request_id: { type: 'string' }, run: { type: 'string' } }
    },
    use_run_result: {
      description:
        "kernel -> frontend: the answer to 'use_run': the run now current, or an untrusted 'error' text. Since 1.7.",
      type: 'object',
      required: ['request_id'],
      properties: {
        request_id: { type: 'string' },
        run: { type: 'string' },
        error: { type: 'string' }
      }
    }
  },
  messages: {
    hello: { $ref: '#/definitions/hello' },
    error: { $ref: '#/definitions/error' },
    flow: { $ref: '#/definitions/flow' },
    flow_model: { $ref: '#/definitions/flow_model' },
    step_status: { $ref: '#/definitions/step_status' },
    run_state: { $ref: '#/definitions/run_state' },
    export: { $ref: '#/definitions/export' },
    export_result: { $ref: '#/definitions/export_result' },
    artifact_page: { $ref: '#/definitions/artifact_page' },
    artifact_page_result: { $ref: '#/definitions/artifact_page_result' },
    runs: { $ref: '#/definitions/runs' },
    runs_result: { $ref: '#/definitions/runs_result' },
    run_details: { $ref: '#/definitions/run_details' },
    run_details_result: { $ref: '#/definitions/run_details_result' },
    step_details: { $ref: '#/definitions/step_details' },
    step_details_result: { $ref: '#/definitions/step_details_result' },
    task_logs: { $ref: '#/definitions/task_logs' },
    task_logs_result: { $ref: '#/definitions/task_logs_result' },
    show: { $ref: '#/definitions/show' },
    show_result: { $ref: '#/definitions/show_result' },
    task_cards: { $ref: '#/definitions/task_cards' },
    task_cards_result: { $ref: '#/definitions/task_cards_result' },
    use_run: { $ref: '#/definitions/use_run' },
    use_run_result: { $ref: '#/definitions/use_run_result' }
  }
};
