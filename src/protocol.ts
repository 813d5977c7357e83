/**
 * The frontend <-> kernel protocol, defined once in
 * python/jupyter_metaflow/protocol/schema.json. The types are generated from it
 * into `_schema.ts` (`npm run build:schema`; src/__tests__/schema.spec.ts fails
 * when they are out of date) and every incoming message is validated against
 * it before it is used.
 *
 * Every message on the comm is one envelope {protocol, type, payload}; peers
 * with the same MAJOR protocol version talk, unknown types are ignored.
 */
import Ajv, { type ValidateFunction } from 'ajv';

import {
  PROTOCOL_SCHEMA,
  type IArtifactPageMessage,
  type IArtifactPageResultMessage,
  type IErrorMessage,
  type IExportMessage,
  type IExportResultMessage,
  type IFlowMessage,
  type IFlowModel,
  type IHelloMessage,
  type IMessagePayloads,
  type IRunDetailsMessage,
  type IRunDetailsResultMessage,
  type IRunStateMessage,
  type IRunsMessage,
  type IRunsResultMessage,
  type IShowMessage,
  type IShowResultMessage,
  type IStepDetailsMessage,
  type IStepDetailsResultMessage,
  type IStepStatusMessage,
  type ITaskCardsMessage,
  type ITaskCardsResultMessage,
  type ITaskLogsMessage,
  type ITaskLogsResultMessage,
  type IUseRunMessage,
  type IUseRunResultMessage
} from './_schema';

export type {
  ICellError,
  IFlowCell,
  IFlowModel,
  IFlowModelMessage,
  IFrameRows,
  IMessagePayloads,
  INotebookCell,
  IRunSummary,
  IStep,
  ITaskSummary,
  ITransition
} from './_schema';

/** The protocol version this frontend speaks (MAJOR.MINOR). */
export const PROTOCOL_VERSION = '1.9';

/** The comm target name, registered on both sides. */
export const COMM_TARGET = 'jupyter_metaflow';

/** A message type of this protocol version. */
export type MessageType = keyof IMessagePayloads;

/** One message on the comm; narrowing `type` narrows `payload`. */
export type IEnvelope<T extends MessageType = MessageType> = {
  [K in T]: { protocol: string; type: K; payload: IMessagePayloads[K] };
}[T];

/** The handshake, sent by both sides. */
export type IHello = IHelloMessage;
/** A request could not be handled; `message` is untrusted text. */
export type IError = IErrorMessage;
/** frontend -> kernel: the notebook's cells; answered by `flow_model`. */
export type IFlow = IFlowMessage;
/** `jupyter_metaflow.cells.FlowModel.to_json()`, also what src/assembly.ts builds. */
export type IFlowModelJSON = IFlowModel;
/** kernel -> frontend: a step (or one foreach split) changed state. */
export type IStepStatus = IStepStatusMessage;
/** The state of a step (or of one foreach split of it). */
export type StepState = IStepStatus['state'];
/** kernel -> frontend: snapshot of the current run, sent on connect. */
export type IRunState = IRunStateMessage;
/** frontend -> kernel: export the notebook to a flow file; answered by `export_result`. */
export type IExportRequest = IExportMessage;
/** kernel -> frontend: the answer to `export`; `error` is untrusted text. */
export type IExportResult = IExportResultMessage;
/** frontend -> kernel: one page of a `%mf_show` frame artifact of task `pathspec`. */
export type IArtifactPage = IArtifactPageMessage;
/** kernel -> frontend: the answer to `artifact_page`; `rows` or `error` (untrusted text). */
export type IArtifactPageResult = IArtifactPageResultMessage;

/** frontend -> kernel: the flow's runs, newest first (since 1.5). */
export type IRunsRequest = IRunsMessage;
/** kernel -> frontend: the answer to `runs`. */
export type IRunsResult = IRunsResultMessage;
/** frontend -> kernel: a run's parameters and step statuses. */
export type IRunDetailsRequest = IRunDetailsMessage;
/** kernel -> frontend: the answer to `run_details`; parameter values are untrusted text. */
export type IRunDetailsResult = IRunDetailsResultMessage;
/** frontend -> kernel: the tasks of a step in a run (default: the current run). */
export type IStepDetailsRequest = IStepDetailsMessage;
/** kernel -> frontend: the answer to `step_details`. */
export type IStepDetailsResult = IStepDetailsResultMessage;
/** frontend -> kernel: a task's logs. */
export type ITaskLogsRequest = ITaskLogsMessage;
/** kernel -> frontend: the ends of a task's logs (untrusted text). */
export type ITaskLogsResult = ITaskLogsResultMessage;
/** frontend -> kernel: the %mf_show view of an address, or of the diff of two runs. */
export type IShowRequest = IShowMessage;
/** kernel -> frontend: the %mf_show JSON (application/vnd.jupyter-metaflow.artifact+json). */
export type IShowResult = IShowResultMessage;
/** frontend -> kernel: a task's cards. */
export type ITaskCardsRequest = ITaskCardsMessage;
/** kernel -> frontend: a task's cards; `html` is untrusted (sandboxed iframe only). */
export type ITaskCardsResult = ITaskCardsResultMessage;

/** frontend -> kernel: make a run the notebook's current run (since 1.7). */
export type IUseRunRequest = IUseRunMessage;
/** kernel -> frontend: the answer to `use_run`. */
export type IUseRunResult = IUseRunResultMessage;

/** Wrap a payload in an envelope of this protocol version. */
export function envelope<T extends MessageType>(
  type: T,
  payload: IMessagePayloads[T]
): IEnvelope<T> {
  return { protocol: PROTOCOL_VERSION, type, payload } as IEnvelope<T>;
}

/** Whether a peer speaking `version` can talk to us (same major version). */
export function isCompatible(version: string): boolean {
  return version.split('.')[0] === PROTOCOL_VERSION.split('.')[0];
}

/** Validators of the envelope and of each message type's payload, compiled on first use. */
let validators: {
  envelope: ValidateFunction;
  payloads: Map<string, ValidateFunction>;
} | null = null;

function getValidators(): NonNullable<typeof validators> {
  if (!validators) {
    const ajv = new Ajv({ allErrors: false });
    // The schema's own keywords: its version and the message table.
    ajv.addVocabulary(['version', 'messages']);
    ajv.addSchema(PROTOCOL_SCHEMA);
    const id = PROTOCOL_SCHEMA.$id as string;
    const messages = PROTOCOL_SCHEMA.messages as Record<string, unknown>;
    validators = {
      envelope: ajv.getSchema(`${id}#/definitions/envelope`)!,
      payloads: new Map(
        Object.keys(messages).map(type => [type, ajv.getSchema(`${id}#/messages/${type}`)!])
      )
    };
  }
  return validators;
}

/**
 * Check that `data` is an envelope of a compatible version whose payload follows
 * the schema for its type; return it typed, or null for anything else (unknown
 * message types included: a newer peer's, ignored). A malformed payload of a
 * known type is reported on the console, naming the field.
 */
export function parseEnvelope(data: unknown): IEnvelope | null {
  const { envelope, payloads } = getValidators();
  if (!envelope(data)) {
    return null;
  }
  const msg = data as { protocol: string; type: string; payload: unknown };
  if (!isCompatible(msg.protocol)) {
    return null;
  }
  const validate = payloads.get(msg.type);
  if (!validate) {
    return null;
  }
  if (!validate(msg.payload)) {
    const error = validate.errors?.[0];
    console.warn(
      `jupyter-metaflow: ignored a malformed '${msg.type}' message: ` +
        `payload${error?.instancePath ?? ''} ${error?.message ?? 'is invalid'}`
    );
    return null;
  }
  return msg as IEnvelope;
}
