import type { ErrorPayload } from './types.js';

/** Error codes the server sends (see the protocol's closed set of codes). */
export type ServerErrorCode =
  | 'BAD_FRAME'
  | 'BAD_REQUEST'
  | 'UNKNOWN_TYPE'
  | 'INVALID_CHANNEL'
  | 'FRAME_TOO_LARGE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'TOO_MANY_SUBSCRIPTIONS'
  | 'TOO_MANY_LOCKS'
  | 'NOT_SUBSCRIBED'
  | 'NOT_FOUND'
  | 'LOCK_HELD'
  | 'NOT_LOCK_HOLDER'
  | 'LOCK_REQUIRED'
  | 'STALE_FENCING_TOKEN'
  | 'VERSION_CONFLICT'
  | 'UNDO_CONFLICT'
  | 'CONFLICT_RESOLVED'
  | 'IDEMPOTENCY_MISMATCH'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/**
 * Error codes produced by the client itself.
 *
 * - `TIMEOUT`: no reply within the request timeout after the frame was sent.
 * - `QUEUE_OVERFLOW`: the offline queue was full and this request was dropped: its oldest
 *   read, or its oldest request when no read was queued.
 * - `QUEUE_CLEARED`: `clearQueue()` dropped the request before it was sent.
 * - `CANCELLED`: a pending subscribe was overtaken by an unsubscribe of the same channel,
 *   `cancel()` withdrew a request before it was sent, or a PresenceManager room was released
 *   before its join was confirmed (`joinRoom`'s `ready`).
 * - `CLIENT_DESTROYED`: `destroy()` was called while the request was pending.
 * - `DISCONNECTED`: the connection dropped under a request that is not resent
 *   (heartbeat pings and the connection's own hello, a request made with
 *   `queue: false`, and one in flight of a type the server does not
 *   deduplicate, such as a publish on a channel without history). When the
 *   request was in flight (one of those types, or made with `queue: false`)
 *   it may have been applied; `details.inFlight` is true. Also a
 *   `queue: false` request held through a planned reconnect whose timeout
 *   passed before the next connection was open and ready: it was not sent
 *   (no `details.inFlight`), and the message says which it waited for.
 * - `INVALID_MESSAGE`: an incoming frame could not be parsed.
 * - `SOCKET_ERROR`: the WebSocket reported an error or could not be created.
 * - `TOKEN_ERROR`: the `getToken` option failed (threw, rejected or returned
 *   no token, or at a connect did not settle within `connectTimeout`). A
 *   refresh is tried again before the token expires; a connect attempt
 *   counts as failed and the client reconnects with backoff.
 * - `FRAME_TOO_LARGE` (also a server code): the frame exceeds `maxFrameBytes`
 *   and was not sent (a FrameTooLargeError).
 * - `NOT_FOLLOWING`: a RealtimeSyncManager's local change was not sent (or
 *   not sent again) because `stopSync` stopped following its entity.
 * - `REBASE_FAILED`: a RealtimeSyncManager's local change that waited to be
 *   sent edits text or list positions, and changes the server made
 *   meanwhile reached this client without the operations to carry it past
 *   them (a sync answered with a whole document, a change event without its
 *   `op`): it was not sent, since its positions may no longer name what its
 *   author meant.
 * - `LOCAL_CONFLICT`: a RealtimeSyncManager's local change to a `manual`
 *   entity that waited to be sent met another user's concurrent change to
 *   its path, and could not be sent so that the server holds it as a
 *   conflict (the user's own earlier change to the same path was applied
 *   after that change, or the server no longer keeps the changes since):
 *   it was not sent, rather than sent over the other change.
 *   `details.remoteChange` is the other change.
 */
export type ClientErrorCode =
  | 'TIMEOUT'
  | 'QUEUE_OVERFLOW'
  | 'QUEUE_CLEARED'
  | 'CANCELLED'
  | 'CLIENT_DESTROYED'
  | 'DISCONNECTED'
  | 'INVALID_MESSAGE'
  | 'SOCKET_ERROR'
  | 'TOKEN_ERROR'
  | 'NOT_FOLLOWING'
  | 'REBASE_FAILED'
  | 'LOCAL_CONFLICT';

export type ErrorCode = ServerErrorCode | ClientErrorCode;

/** Server codes that mark a temporary condition, mirroring the server's own list. */
const RETRYABLE_SERVER_CODES: ReadonlySet<string> = new Set(['RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL', 'LOCK_HELD']);

/** Client codes after which sending the same request again may succeed. */
const RETRYABLE_CLIENT_CODES: ReadonlySet<string> = new Set(['TIMEOUT', 'QUEUE_OVERFLOW', 'DISCONNECTED', 'SOCKET_ERROR']);

/** Whether a request that failed with `code` may succeed if sent again unchanged. */
export function isRetryableCode(code: string): boolean {
  return RETRYABLE_SERVER_CODES.has(code) || RETRYABLE_CLIENT_CODES.has(code);
}

export interface RealtimeErrorInit {
  code: ErrorCode | (string & {});
  message: string;
  retryable?: boolean;
  details?: Record<string, unknown>;
  /** The `messageId` of the request this error answers, when there is one. */
  messageId?: string;
  cause?: unknown;
}

/**
 * A failed request or a connection problem, with a stable machine-readable
 * `code` (translate codes for users; `message` is for developers).
 */
export class RealtimeError extends Error {
  readonly code: ErrorCode | (string & {});
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  readonly messageId: string | undefined;

  constructor(init: RealtimeErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'RealtimeError';
    this.code = init.code;
    this.retryable = init.retryable ?? isRetryableCode(init.code);
    this.details = init.details;
    this.messageId = init.messageId;
  }

  /** Builds the error carried by an `error` frame. */
  static fromPayload(payload: unknown, messageId?: string): RealtimeError {
    const p = isRecord(payload) ? payload : {};
    const code = typeof p['code'] === 'string' && p['code'] !== '' ? p['code'] : 'INTERNAL';
    const message = typeof p['message'] === 'string' ? p['message'] : 'request failed';
    const details = isRecord(p['details']) ? p['details'] : undefined;
    const init: RealtimeErrorInit = { code, message };
    if (typeof p['retryable'] === 'boolean') init.retryable = p['retryable'];
    if (details !== undefined) init.details = details;
    if (messageId !== undefined) init.messageId = messageId;
    return new RealtimeError(init);
  }

  /** The error as an `error` frame payload. */
  toPayload(): ErrorPayload {
    const p: ErrorPayload = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.details !== undefined) p.details = this.details;
    return p;
  }
}

/**
 * A frame the client refused to send because it exceeds `maxFrameBytes`
 * (at most 32 KB: API Gateway closes the connection with 1009 when a client
 * sends a larger frame, and browsers send every message as one frame).
 * Nothing was sent; the connection stays open. `code` is always
 * `FRAME_TOO_LARGE`; `bytes` is the frame's UTF-8 size, `limit` the limit.
 */
export class FrameTooLargeError extends RealtimeError {
  readonly bytes: number;
  readonly limit: number;

  constructor(bytes: number, limit: number, messageId?: string) {
    const init: RealtimeErrorInit = {
      code: 'FRAME_TOO_LARGE',
      message: `frame of ${bytes} bytes exceeds ${limit}`,
      retryable: false,
      details: { bytes, limit },
    };
    if (messageId !== undefined) init.messageId = messageId;
    super(init);
    this.name = 'FrameTooLargeError';
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** Whether `err` is a RealtimeError (with `code` when given). */
export function isRealtimeError(err: unknown, code?: ErrorCode): err is RealtimeError {
  return err instanceof RealtimeError && (code === undefined || err.code === code);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
