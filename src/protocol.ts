/**
 * The frontend <-> kernel protocol, mirrored from its single definition in
 * python/jupyter_metaflow/protocol/schema.json (kept in sync by
 * src/__tests__/protocol.spec.ts).
 *
 * Every message on the comm is one envelope {protocol, type, payload}; peers
 * with the same MAJOR protocol version talk, unknown types are ignored.
 */

/** The protocol version this frontend speaks (MAJOR.MINOR). */
export const PROTOCOL_VERSION = '1.0';

/** The comm target name, registered on both sides. */
export const COMM_TARGET = 'jupyter_metaflow';

/** Payloads by message type. */
export interface IMessagePayloads {
  hello: IHello;
  error: IError;
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
