/**
 * Requests to the kernel over a notebook's link: send `type` with a fresh
 * `request_id`, wait for the `<type>_result` carrying the same id. Answers
 * with an `error` (untrusted text), and `error` messages carrying the id (the
 * kernel's handler failed), reject with it.
 */
import type { IEnvelope, IMessagePayloads, MessageType } from './protocol';
import type { IKernelLink } from './tokens';

/** How long the kernel may take to answer (it answers between cells). */
export const REQUEST_TIMEOUT_MS = 60_000;

/** Request types that have a `<type>_result` answer. */
export type RequestType = {
  [T in MessageType]: `${T}_result` extends MessageType ? T : never;
}[MessageType];

/** The answer type of each request type. */
type Results = { [T in RequestType]: IMessagePayloads[`${T}_result` & MessageType] };

/** The answer type of a request type. */
export type ResultOf<T extends RequestType> = Results[T];

/** Why a request could not be sent. */
export const NOT_CONNECTED = 'the kernel side is not connected (%load_ext jupyter_metaflow)';

let counter = 0;

/** Send a request on `link` and resolve with its answer. */
export function request<T extends RequestType>(
  link: IKernelLink | null,
  type: T,
  payload: Omit<IMessagePayloads[T], 'request_id'>,
  timeoutMs = REQUEST_TIMEOUT_MS
): Promise<ResultOf<T>> {
  const requestId = `${type}-${Date.now()}-${++counter}`;
  const answer = `${type}_result`;
  return new Promise((resolve, reject) => {
    if (!link || link.state !== 'connected') {
      reject(new Error(NOT_CONNECTED));
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      link.messageReceived.disconnect(onMessage);
    };
    const onMessage = (_: IKernelLink, message: IEnvelope): void => {
      const result = message.payload as { request_id?: string; error?: string; message?: string };
      if (
        (message.type !== answer && message.type !== 'error') ||
        result.request_id !== requestId
      ) {
        return;
      }
      done();
      if (message.type === 'error') {
        // the kernel's handler failed on this request
        reject(new Error(String(result.message)));
      } else if (typeof result.error === 'string') {
        reject(new Error(result.error));
      } else {
        resolve(result as unknown as ResultOf<T>);
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error('the kernel did not answer (is it busy running a cell?)'));
    }, timeoutMs);
    link.messageReceived.connect(onMessage);
    if (!link.send(type, { ...payload, request_id: requestId } as unknown as IMessagePayloads[T])) {
      done();
      reject(new Error(NOT_CONNECTED));
    }
  });
}
