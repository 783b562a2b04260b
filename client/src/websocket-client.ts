import { backoffDelay, type JitterMode } from './backoff.js';
import { Emitter, type Listener } from './emitter.js';
import { FrameTooLargeError, RealtimeError, isRecord } from './errors.js';
import { generateMessageId, isValidChannel, isValidMessageId, utf8Length } from './ids.js';
import { ChannelStream } from './stream.js';
import type {
  AckPayload,
  ChannelHistoryAck,
  HelloAck,
  RecoveryFailed,
  StreamPosition,
  OutgoingMessage,
  RequestType,
  SubscribeAck,
  UnsubscribeAck,
  WebSocketMessage,
} from './types.js';

/**
 * Connection states.
 *
 * - `idle`: created, `connect()` not called yet.
 * - `connecting`: the first attempt after `connect()`.
 * - `open`: the socket is open (channels are resubscribed and the queue is
 *   flushed right after; see the `ready` event).
 * - `reconnecting`: the connection dropped; waiting out the backoff delay or
 *   opening the next socket.
 * - `closed`: `disconnect()` was called, reconnecting is off, or
 *   `maxReconnectAttempts` ran out. `connect()` starts again.
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** `readyState` of an open WebSocket. */
export const WS_OPEN = 1;

/**
 * The largest frame the client sends: 32 KB (32768 bytes), API Gateway's
 * WebSocket frame size quota. A client frame over it closes the connection
 * with 1009, and browsers send every message as a single frame.
 */
export const MAX_FRAME_BYTES = 32 * 1024;

/**
 * The longest token the server accepts (4096 bytes): API Gateway accepts
 * WebSocket URLs of at most 4096 characters.
 */
export const MAX_TOKEN_BYTES = 4096;

/** The subprotocol the client offers when it sends a token and `protocols` names none. */
export const DEFAULT_PROTOCOL = 'rtcollab.v1';

/** Prefix of the subprotocol entry that carries the token (`bearer.<token>`). */
export const TOKEN_PROTOCOL_PREFIX = 'bearer.';

/**
 * Where the token of the URL's `token` query parameter travels:
 * `'subprotocol'` moves it into the Sec-WebSocket-Protocol header as
 * `bearer.<token>` (kept out of URLs and access logs); `'query'` leaves it
 * in the URL, for servers or proxies that cannot take it in the header.
 */
export type TokenTransport = 'subprotocol' | 'query';

// A handler type whose parameter is checked bivariantly, so that the DOM
// WebSocket (handlers taking Event, MessageEvent, CloseEvent) and other
// implementations (such as the `ws` package) both fit WebSocketLike.
type SocketHandler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The part of the WebSocket interface this client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: SocketHandler<unknown> | null;
  onmessage: SocketHandler<{ data: unknown }> | null;
  onclose: SocketHandler<{ code: number; reason: string; wasClean: boolean }> | null;
  onerror: SocketHandler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, or a test double. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Time source and timers; the default uses Date.now and the global timers. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/**
 * The longest delay (ms) a timer takes: browsers and Node run a timer
 * whose delay is past 2^31 - 1 ms (about 24.8 days) at once.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * `clock` with timers of any length: a delay past MAX_TIMER_DELAY is waited
 * out in steps of at most MAX_TIMER_DELAY, until its deadline (on the
 * clock, or by the steps waited when the clock lags behind them); an
 * Infinite delay never fires; a negative or NaN one is 0. Its handles are
 * its own: clear them with its clearTimeout, which, like the global one,
 * takes null or undefined for no timer.
 */
export function longTimerClock(clock: Clock): Clock {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => {
      const timer: { handle: unknown } = { handle: null };
      const total = ms > 0 ? ms : 0;
      if (total <= MAX_TIMER_DELAY) {
        timer.handle = clock.setTimeout(fn, total);
        return timer;
      }
      const deadline = clock.now() + total;
      const arm = (left: number): void => {
        const step = Math.min(left, MAX_TIMER_DELAY);
        timer.handle = clock.setTimeout(() => {
          const rest = Math.min(deadline - clock.now(), left - step);
          if (rest > 0) arm(rest);
          else fn();
        }, step);
      };
      arm(total);
      return timer;
    },
    clearTimeout: (timer) => {
      if (timer !== null && timer !== undefined) clock.clearTimeout((timer as { handle: unknown }).handle);
    },
  };
}

/** Client-side pacing of outgoing frames (a token bucket). */
export interface RateLimitOptions {
  /** Sustained frames per second. */
  rate: number;
  /** Frames that may leave at once; the bucket starts full on every connection. */
  burst: number;
}

export interface WebSocketClientOptions {
  /**
   * Server URL, or a function returning it (called before every attempt, so
   * that a fresh token can go in the query string, `?token=`; see
   * `tokenTransport` for where it actually travels).
   */
  url: string | (() => string | Promise<string>);
  /**
   * WebSocket subprotocols to offer; the server selects the first one that
   * does not carry a token. Default none, or `DEFAULT_PROTOCOL` when a token
   * travels as a subprotocol.
   */
  protocols?: string | string[];
  /**
   * Returns the token to connect with. Called before every connect, and
   * again ahead of the token's `exp` (see `tokenRefreshLeeway`; dated on
   * the server's clock, which every connection reports): the client
   * then reconnects with the new token by plan, keeping every subscription
   * and every queued request, after waiting (at most `requestTimeout`) for
   * the replies to the requests in flight; one still unanswered then is
   * resent with its messageId if it is of a type the server deduplicates
   * (see RESENT_REQUEST_TYPES), else rejected with DISCONNECTED. A frame
   * the server refuses because
   * the token expired (UNAUTHORIZED, `details.reason` TOKEN_EXPIRED) is
   * kept and sent again on the next connection too. The token goes to the
   * server as a url's `token` query parameter would (see
   * `tokenTransport`). Default: none (the url carries any token).
   */
  getToken?: () => string | Promise<string>;
  /**
   * How long (ms) before the token's `exp` a new one is fetched, at most
   * half the lifetime the token has left when the connection opens (on
   * the server's clock). Default 60000.
   */
  tokenRefreshLeeway?: number;
  /**
   * Where the URL's `token` query parameter travels. Default `'subprotocol'`:
   * it is removed from the URL and offered as `bearer.<token>` after the
   * subprotocols (a token that is not a valid subprotocol name stays in
   * the URL).
   */
  tokenTransport?: TokenTransport;
  /** Reconnect after an unexpected close. Default true. */
  reconnect?: boolean;
  /** Backoff envelope of the first retry (ms). Default 1000. */
  reconnectInterval?: number;
  /** Largest backoff envelope (ms). Default 30000. */
  maxReconnectInterval?: number;
  /**
   * Growth of the backoff envelope per reconnect until connections have
   * stayed up STABLE_CONNECTION_MS (30 s). Default 1.5.
   */
  reconnectDecay?: number;
  /**
   * Consecutive failed attempts before giving up (state `closed`, event
   * `reconnect-failed`): attempts that did not open, or opened but did not
   * answer hello. A connection that opened and answered hello ends the
   * count, however soon it closes (the backoff delay still grows then); a
   * planned reconnect (token refresh, `maxConnectionAge`) is no attempt.
   * Default Infinity: a back-office tab keeps trying, at most every
   * `maxReconnectInterval`.
   */
  maxReconnectAttempts?: number;
  /** Randomisation of the backoff delay. Default `equal`; see JitterMode. */
  jitter?: JitterMode;
  /** Ping period (ms); keeps the connection under the 10 min idle limit. 0 disables. Default 30000. */
  heartbeatInterval?: number;
  /** A ping without its pong after this long (ms) means a dead connection: close and reconnect. Default 10000. */
  pongTimeout?: number;
  /**
   * An attempt not open this long (ms) after it started counts as a failed
   * attempt (close cause `connect-timeout`, then backoff): the wait for the
   * `url` function and for `getToken` counts, as does the handshake. A URL
   * that comes later is ignored; a token is kept for the next attempt (or
   * taken by one waiting for its own), so a getToken slower than this
   * still connects. 0 disables. Default 10000.
   */
  connectTimeout?: number;
  /** Default time (ms) to wait for a reply once a request was sent. Default 10000. */
  requestTimeout?: number;
  /**
   * Planned reconnect after this long (ms) on one connection, ahead of the
   * server's 2 h limit: no new request is written on the old connection
   * (those made with `queue: false` too wait for the next one, at most their
   * `timeout`, as do those made after it opens until it is ready), the
   * replies to those in flight are awaited (at most `requestTimeout`), then
   * it reconnects at once. 0 disables. Default 115 minutes.
   */
  maxConnectionAge?: number;
  /**
   * Requests held while not connected; beyond it the oldest read
   * (READ_REQUEST_TYPES) is dropped, or the oldest request when no read is
   * held. Default 100.
   */
  messageQueueSize?: number;
  /**
   * Frames larger than this (UTF-8 bytes) are refused locally with a
   * FrameTooLargeError. Default and maximum 32768 (MAX_FRAME_BYTES).
   */
  maxFrameBytes?: number;
  /**
   * Pacing of outgoing frames, so that a flush after a reconnect stays under
   * the server's per-connection limit (20/s, burst 40). `false` disables.
   * Default { rate: 16, burst: 32 }. Cursor frames are exempt (the server
   * limits them separately); hello and ping never wait, the resubscribes
   * of a new connection do.
   */
  rateLimit?: RateLimitOptions | false;
  /** Times a request refused with RATE_LIMITED is sent again (same messageId). Default 5. */
  rateLimitRetries?: number;
  /** Send `hello` on every connection and keep its ack as `session`. Default true. */
  hello?: boolean;
  /** Log to console.debug. Default false. */
  debug?: boolean;
  /** WebSocket class. Default globalThis.WebSocket. */
  WebSocketImpl?: WebSocketConstructor;
  /**
   * Time source and timers. Default: Date.now and the global timers. The
   * client never hands it a delay past MAX_TIMER_DELAY: a longer one is
   * waited out in steps (see `longTimerClock`).
   */
  clock?: Clock;
  /** Random numbers in [0, 1) for the backoff jitter. Default Math.random. */
  random?: () => number;
  /** messageId generator. Default: crypto.randomUUID, with fallbacks. */
  generateId?: () => string;
}

/** Why a connection ended. */
export type CloseCause =
  | 'server'
  | 'client'
  | 'heartbeat-timeout'
  | 'connect-timeout'
  | 'max-age'
  | 'unauthorized'
  | 'token-refresh'
  | 'token-expired'
  | 'error';

export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
  willReconnect: boolean;
  cause: CloseCause;
}

/** Identifies a request without its payload. */
export interface RequestInfo {
  messageId: string;
  type: string;
  channel?: string;
}

/** The observable state of a client, for UI bindings. A new object whenever a field changes. */
export interface ClientSnapshot {
  readonly state: ConnectionState;
  readonly latency: number | null;
  /** Requests waiting to be sent: queued offline, waiting for resend, or delayed by rate limiting. */
  readonly queuedMessages: number;
  /** Requests sent on the current connection and awaiting their reply. */
  readonly pendingRequests: number;
  readonly subscriptions: readonly string[];
  readonly session: HelloAck | null;
  /**
   * Consecutive failed reconnect attempts (see `maxReconnectAttempts`): 0
   * once a connection has opened and answered hello.
   */
  readonly reconnectAttempts: number;
  /**
   * When (this client's clock) a connection last opened; null before the
   * first. The same Date until another connection opens.
   */
  readonly lastOpenedAt: Date | null;
  /**
   * When (this client's clock) the last open connection went down (dropped,
   * closed by the client, or replaced by a planned reconnect); null while no
   * connection has gone down yet. The same Date until another one goes down.
   */
  readonly lastClosedAt: Date | null;
}

export interface WebSocketClientEvents {
  statechange: { state: ConnectionState; previous: ConnectionState };
  /** The socket opened. */
  open: { reconnected: boolean };
  /** Channels are resubscribed; queued requests are being sent. */
  ready: { reconnected: boolean };
  close: CloseInfo;
  /** Every incoming frame except the replies that settle this client's own requests. */
  message: WebSocketMessage;
  /** Socket errors, unparsable frames, unsolicited `error` frames. Failed requests reject instead. */
  error: RealtimeError;
  /** Round-trip time (ms) of the latest ping (or hello). */
  latency: number;
  /** The ack of `hello` on a new connection. */
  hello: HelloAck;
  /** The queue was full: `dropped` (the oldest read, else the oldest request) was rejected with QUEUE_OVERFLOW. */
  'queue-overflow': { dropped: RequestInfo; queueSize: number };
  /**
   * The next attempt waits `delay` ms; `attempt` counts it among the
   * consecutive failed ones (see `maxReconnectAttempts`), 0 for a planned
   * reconnect.
   */
  'reconnect-scheduled': { attempt: number; delay: number; cause: CloseCause };
  /** `maxReconnectAttempts` ran out; the client is `closed`. */
  'reconnect-failed': { attempts: number };
  /**
   * The server refused to (re)subscribe a channel with a code that is not
   * retryable (FORBIDDEN, INVALID_CHANNEL, TOO_MANY_SUBSCRIPTIONS, ...); the
   * channel was removed from `subscriptions`. A retryable failure (TIMEOUT,
   * UNAVAILABLE, INTERNAL) keeps the channel: it is subscribed again.
   */
  'subscription-error': { channel: string; error: RealtimeError };
  /** The server acknowledged a (re)subscription of `channel` on the current connection. */
  subscribed: { channel: string };
  /**
   * The publications a channel missed (while reconnecting, or in a gap of
   * its live updates) could not be recovered: the history no longer holds
   * them, the stream's epoch changed, or the history reads of a gap were
   * refused or kept failing. The subscription continues live; refetch the
   * state the channel's updates describe.
   */
  'recovery-failed': RecoveryFailed;
  /** The snapshot changed. */
  snapshot: ClientSnapshot;
  /**
   * `destroy()` ran: every request and subscription was rejected with
   * CLIENT_DESTROYED. Sent last, before every listener is removed.
   */
  destroy: Record<string, never>;
}

export interface RequestParams<P = unknown> {
  channel?: string;
  payload?: P;
}

export interface RequestOptions {
  /** Time (ms) to wait for the reply once sent. Default: the client's requestTimeout. */
  timeout?: number;
  /**
   * Hold the request while not connected (default true). False binds it to
   * the connection it is sent on: it is rejected with DISCONNECTED at once
   * when not connected, and when the connection drops before its reply
   * (then with `details.inFlight: true`: it may have been applied), instead
   * of being sent again on the next one. A planned reconnect
   * (`maxConnectionAge`, token refresh, TOKEN_EXPIRED) is not a drop: from
   * the moment it starts waiting for the replies in flight until the next
   * connection opens (and one made after it opened, until it is ready), the
   * request is not written on the old connection but waits for the next
   * one, at most `timeout` (then DISCONNECTED without `details.inFlight`, as
   * it was not sent, with a message saying whether the next connection had
   * not opened or was open but not ready; the reply timeout starts when it
   * is sent). If that connection fails to open it is
   * rejected with DISCONNECTED at once. One the server refuses with
   * TOKEN_EXPIRED (which changes nothing) is held the same way and sent
   * again on the next connection; held again, it has what is left of the
   * `timeout` it had when first held. One refused with RATE_LIMITED whose
   * retry comes after a planned reconnect is sent on the next connection.
   */
  queue?: boolean;
  /**
   * With `queue: false`, whether the request may be held through a planned
   * reconnect as above (default true). False keeps it to the connection it
   * was made on: made while a planned reconnect is under way, it is
   * rejected with DISCONNECTED at once, as when not connected, and one
   * waiting to be sent when the old connection closes is rejected then.
   * For requests whose effect the next connection must not get unasked,
   * such as a room join the application may release meanwhile.
   */
  hold?: boolean;
  /**
   * Send the request again by itself, with the same messageId, after a
   * RATE_LIMITED answer (default true, up to `rateLimitRetries` times);
   * false rejects with the error at once. For requests whose content goes
   * stale, such as cursor positions.
   */
  retry?: boolean;
  /**
   * Reuse a messageId, for an application-level retry of a request the
   * server refused: the server applies a change at most once per messageId.
   * 1..128 printable ASCII characters (U+0021-U+007E); another is refused
   * at once with a RealtimeError BAD_REQUEST (not retryable), nothing sent.
   * So is one that a request not settled yet carries (in flight, queued,
   * waiting to be sent again or to retry after RATE_LIMITED): reuse it once
   * that request settled. Default: a fresh id.
   */
  messageId?: string;
}

export interface SendOptions {
  /** Hold the message while not connected (default true); false drops it. */
  queue?: boolean;
}

type ResolvedOptions = Required<
  Omit<WebSocketClientOptions, 'protocols' | 'WebSocketImpl' | 'rateLimit' | 'getToken'>
> & {
  protocols: string | string[] | undefined;
  getToken: (() => string | Promise<string>) | undefined;
  WebSocketImpl: WebSocketConstructor | undefined;
  rateLimit: RateLimitOptions | false;
};

/** Which error codes a request retries by itself, sending the same frame again. */
type RetryPolicy = 'rate-limited' | 'retryable' | 'none';

interface Outbound {
  readonly seq: number;
  readonly messageId: string;
  readonly type: string;
  readonly channel: string | undefined;
  readonly frame: string;
  /** Has a promise and waits for its reply. */
  readonly tracked: boolean;
  /** Belongs to one connection: never queued, never resent (hello, ping, subscriptions, history reads). */
  readonly internal: boolean;
  /**
   * An application request sent with `queue: false`: settled with
   * DISCONNECTED instead of resent after a drop; held only through a planned
   * reconnect, from its wait for the replies in flight until the next
   * connection is ready.
   */
  readonly bound: boolean;
  /** A bound request that may be held through a planned reconnect (RequestOptions.hold). */
  readonly hold: boolean;
  readonly timeout: number;
  readonly retry: RetryPolicy;
  retriesLeft: number;
  retryAttempt: number;
  /** Generation of the connection it was written to (internal requests). */
  gen: number;
  timer: unknown;
  /**
   * When a `queue: false` request held through planned reconnects must have
   * been sent by (set when first held): holding it again (refused with
   * TOKEN_EXPIRED once more) does not give it a fresh timeout.
   */
  holdUntil: number | null;
  /** It went on the wire at least once: it can no longer be cancelled. */
  written: boolean;
  resolve: (payload: unknown) => void;
  reject: (err: RealtimeError) => void;
}

interface ChannelEntry {
  waiters: { resolve: (ack: SubscribeAck) => void; reject: (err: RealtimeError) => void }[];
  /** Generation of the connection on which the server acked the subscription; -1 for none. */
  confirmedGen: number;
  /** Generation of the connection with a subscribe in flight; -1 for none. */
  inflightGen: number;
  /** The channel's stream position and held updates (channels with history). */
  stream: ChannelStream;
  /** Timer of a pending gap fill; null for none. */
  gapTimer: unknown;
  /** Timer of the next subscribe after one that failed with a retryable error; null for none. */
  retryTimer: unknown;
  /** Subscribes in a row that failed with a retryable error (the backoff of the next one). */
  failures: number;
}

/**
 * How long (ms) connections must stay up, one or several that replace each
 * other by plan (token refresh, `maxConnectionAge`), to count as healthy:
 * then the backoff starts over, and the next drop is retried after the
 * first envelope (`reconnectInterval`). A connection the server closes
 * sooner (one that answers hello and hangs up) makes the delay grow, so
 * such a server is not re-dialled at the first envelope for ever; it does
 * not count toward `maxReconnectAttempts`, which counts failed attempts.
 */
export const STABLE_CONNECTION_MS = 30_000;

/**
 * The frames the server dates as it sends them (replies, and errors), whose
 * timestamp tells its clock; an update or event carries the time it was
 * published or announced.
 */
const CLOCK_FRAME_TYPES: ReadonlySet<string> = new Set(['ack', 'pong', 'error']);

/** How long (ms) live updates past a gap wait for the missing ones before they are read from history. */
const GAP_FILL_DELAY = 500;

/**
 * History reads of a channel's stream (of a gap, or a recovery's next
 * page) in a row that may fail with a retryable error before the gaps they
 * would fill are given up with `recovery-failed`, the live updates held
 * after them delivered: about 30 s with the default requestTimeout when
 * no read gets a reply. Like SUBSCRIPTION_RETRIES, a fixed small number:
 * a history read path that keeps failing while the live fan-out works
 * must not hold a channel's updates until the connection ends.
 */
const STREAM_READ_ATTEMPTS = 3;

/**
 * The longest wait (ms) before a request refused with RATE_LIMITED is sent
 * again, whatever retryAfterMs says.
 */
const MAX_RETRY_AFTER = 60_000;

/**
 * The default `requestTimeout` (ms). Some waits take it when the option is
 * 0 (no reply timeout): the history reads of a gap, a planned reconnect's
 * wait for the replies in flight, and a RealtimeSyncManager's lock.release.
 */
export const DEFAULT_REQUEST_TIMEOUT = 10_000;

const DEFAULTS = {
  reconnect: true,
  reconnectInterval: 1000,
  maxReconnectInterval: 30_000,
  reconnectDecay: 1.5,
  maxReconnectAttempts: Infinity,
  jitter: 'equal' as JitterMode,
  heartbeatInterval: 30_000,
  pongTimeout: 10_000,
  connectTimeout: 10_000,
  requestTimeout: DEFAULT_REQUEST_TIMEOUT,
  maxConnectionAge: 115 * 60_000,
  messageQueueSize: 100,
  maxFrameBytes: MAX_FRAME_BYTES,
  rateLimit: { rate: 16, burst: 32 } as RateLimitOptions | false,
  rateLimitRetries: 5,
  hello: true,
  debug: false,
  tokenRefreshLeeway: 60_000,
};

/**
 * The longest wait (ms) of a planned reconnect for the replies to the
 * requests in flight (it waits at most requestTimeout).
 */
const MAX_DRAIN = 60_000;

/**
 * The request types sent again, with their messageId, when the connection
 * drops before their reply: those the server applies once per user and
 * messageId (change, undo, conflict.resolve, comment.add; docs/PROTOCOL.md,
 * "Rules every client needs", 3), the reads, and the locks' requests, which
 * leave the same state when applied twice (a second lock.release of the
 * caller's lock gets the first one's reply). A publish is sent again only on a channel with
 * history, where the server deduplicates it too. Any other request in
 * flight at a drop (publish on a channel without history, notify,
 * activity, comment.resolve, presence, room.join, room.leave, cursor, types
 * this client does not know) rejects with DISCONNECTED instead: it may have
 * been applied, and sending it again would apply (and broadcast) it twice.
 */
export const RESENT_REQUEST_TYPES: ReadonlySet<string> = new Set([
  'change',
  'undo',
  'conflict.resolve',
  'comment.add',
  'sync',
  'history',
  'comment.list',
  'activity.list',
  'presence.snapshot',
  'lock.acquire',
  'lock.renew',
  'lock.release',
]);

/**
 * The requests that only read (docs/PROTOCOL.md, "Rules every client
 * needs", 3). On overflow of the queue the oldest of them is dropped before
 * any other request: a read can be made again from the state at hand,
 * while a dropped write (a change made offline) is lost.
 */
export const READ_REQUEST_TYPES: ReadonlySet<string> = new Set(['sync', 'history', 'comment.list', 'activity.list', 'presence.snapshot']);

/**
 * Retries of a subscribe, unsubscribe or history read refused with a
 * retryable code. A RATE_LIMITED answer does not count: those are retried
 * for as long as the connection lasts.
 */
const SUBSCRIPTION_RETRIES = 3;

/** Reads a stream position from a reply member; null when it is not one. */
function streamPosition(v: unknown): StreamPosition | null {
  if (!isRecord(v) || typeof v['offset'] !== 'number' || typeof v['epoch'] !== 'string') return null;
  return { offset: v['offset'], epoch: v['epoch'] };
}

const noop = (): void => {};

/** The connection's own frames that go out without waiting for a pacing token. */
function unpaced(type: string): boolean {
  return type === 'hello' || type === 'ping';
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new TypeError(`WebSocketClient: option ${name} must be a number >= 0`);
  }
  return v;
}

function resolveOptions(o: WebSocketClientOptions): ResolvedOptions {
  if (typeof o.url !== 'string' && typeof o.url !== 'function') {
    throw new TypeError('WebSocketClient: option url is required');
  }
  const r: ResolvedOptions = {
    url: o.url,
    protocols: o.protocols,
    getToken: o.getToken,
    tokenRefreshLeeway: nonNegative('tokenRefreshLeeway', o.tokenRefreshLeeway ?? DEFAULTS.tokenRefreshLeeway),
    reconnect: o.reconnect ?? DEFAULTS.reconnect,
    reconnectInterval: nonNegative('reconnectInterval', o.reconnectInterval ?? DEFAULTS.reconnectInterval),
    maxReconnectInterval: nonNegative('maxReconnectInterval', o.maxReconnectInterval ?? DEFAULTS.maxReconnectInterval),
    reconnectDecay: o.reconnectDecay ?? DEFAULTS.reconnectDecay,
    maxReconnectAttempts: nonNegative('maxReconnectAttempts', o.maxReconnectAttempts ?? DEFAULTS.maxReconnectAttempts),
    jitter: o.jitter ?? DEFAULTS.jitter,
    heartbeatInterval: nonNegative('heartbeatInterval', o.heartbeatInterval ?? DEFAULTS.heartbeatInterval),
    pongTimeout: nonNegative('pongTimeout', o.pongTimeout ?? DEFAULTS.pongTimeout),
    connectTimeout: nonNegative('connectTimeout', o.connectTimeout ?? DEFAULTS.connectTimeout),
    requestTimeout: nonNegative('requestTimeout', o.requestTimeout ?? DEFAULTS.requestTimeout),
    maxConnectionAge: nonNegative('maxConnectionAge', o.maxConnectionAge ?? DEFAULTS.maxConnectionAge),
    messageQueueSize: Math.floor(nonNegative('messageQueueSize', o.messageQueueSize ?? DEFAULTS.messageQueueSize)),
    maxFrameBytes: nonNegative('maxFrameBytes', o.maxFrameBytes ?? DEFAULTS.maxFrameBytes),
    tokenTransport: o.tokenTransport ?? 'subprotocol',
    rateLimit: o.rateLimit ?? DEFAULTS.rateLimit,
    rateLimitRetries: Math.floor(nonNegative('rateLimitRetries', o.rateLimitRetries ?? DEFAULTS.rateLimitRetries)),
    hello: o.hello ?? DEFAULTS.hello,
    debug: o.debug ?? DEFAULTS.debug,
    WebSocketImpl: o.WebSocketImpl,
    // Every delay the client computes goes through it: a token valid for
    // weeks, a maxConnectionAge or timeout past 2^31 - 1 ms must not fire
    // at once.
    clock: longTimerClock(o.clock ?? systemClock),
    random: o.random ?? Math.random,
    generateId: o.generateId ?? generateMessageId,
  };
  if (r.getToken !== undefined && typeof r.getToken !== 'function') {
    throw new TypeError('WebSocketClient: option getToken must be a function');
  }
  if (r.maxFrameBytes > MAX_FRAME_BYTES) {
    throw new TypeError(`WebSocketClient: option maxFrameBytes must be at most ${MAX_FRAME_BYTES} (API Gateway closes larger frames)`);
  }
  if (r.tokenTransport !== 'subprotocol' && r.tokenTransport !== 'query') {
    throw new TypeError("WebSocketClient: option tokenTransport must be 'subprotocol' or 'query'");
  }
  if (typeof r.reconnectDecay !== 'number' || !(r.reconnectDecay >= 1)) {
    throw new TypeError('WebSocketClient: option reconnectDecay must be a number >= 1');
  }
  if (r.rateLimit !== false && !(r.rateLimit.rate > 0 && r.rateLimit.burst >= 1)) {
    throw new TypeError('WebSocketClient: option rateLimit needs rate > 0 and burst >= 1');
  }
  return r;
}

/**
 * A WebSocket connection to the collaboration backend that survives drops.
 *
 * - Reconnects with exponential backoff and jitter (see `backoffDelay`).
 * - Every request gets a unique messageId and a promise for its reply.
 * - While not connected, requests wait in a bounded queue; on overflow the
 *   oldest read (or, with none queued, the oldest request) is rejected with
 *   QUEUE_OVERFLOW and `queue-overflow` is emitted.
 * - After a reconnect it first resubscribes every channel, then resends the
 *   requests that were in flight when the socket dropped and then the queued
 *   ones, all with their original messageIds, in their original order. Only
 *   the in-flight requests the server deduplicates by messageId, or that
 *   change nothing when applied twice, are resent (RESENT_REQUEST_TYPES);
 *   the others reject with DISCONNECTED, since they may have been applied.
 * - Pings every `heartbeatInterval`; a missing pong closes the socket and
 *   reconnects. Reconnects by plan before `maxConnectionAge`.
 */
export class WebSocketClient {
  private readonly opts: ResolvedOptions;
  private readonly emitter = new Emitter<WebSocketClientEvents>();

  private _state: ConnectionState = 'idle';
  private socket: WebSocketLike | null = null;
  /** Incremented for every socket and on disconnect; stale callbacks compare against it. */
  private gen = 0;
  /** Resubscribed; queued requests may be written. */
  private ready = false;
  private everOpened = false;
  private manualClose = false;
  private destroyed = false;
  /**
   * Consecutive failed attempts, the count maxReconnectAttempts limits:
   * reconnects scheduled since a connection last opened and answered
   * hello (opened, with hello off).
   */
  private attempts = 0;
  /**
   * The step of the backoff delay: reconnects scheduled since connections
   * last stayed up STABLE_CONNECTION_MS (see stableTimer).
   */
  private backoffStep = 0;
  private seq = 0;

  private readonly queue: Outbound[] = [];
  private readonly resend: Outbound[] = [];
  private readonly inflight = new Map<string, Outbound>();
  private readonly delayed = new Map<Outbound, unknown>();
  /** The connection's own requests waiting for a pacing token (subscriptions, history reads). */
  private readonly paced: Outbound[] = [];
  private readonly channels = new Map<string, ChannelEntry>();
  private readonly channelOps = new Map<string, Promise<void>>();
  /** Holders of each channel taken with `retain`. */
  private readonly holders = new Map<string, number>();

  private tokens = 0;
  private tokensAt = 0;

  private reconnectTimer: unknown = null;
  /** Bounds the current attempt (see armConnectTimer). */
  private connectTimer: unknown = null;
  /** What the current attempt waits for before it has a socket; null for nothing. */
  private connectPhase: 'url' | 'token' | null = null;
  private heartbeatTimer: unknown = null;
  private ageTimer: unknown = null;
  /**
   * Starts the backoff over once connections have stayed up
   * STABLE_CONNECTION_MS: armed when one opens, it runs on through the
   * connections that replace it by plan, and stops at a drop or a failed
   * attempt.
   */
  private stableTimer: unknown = null;
  private pumpTimer: unknown = null;
  private tokenTimer: unknown = null;
  private drainTimer: unknown = null;
  /** A planned reconnect waiting for the replies to the requests in flight; null for none. */
  private draining: { cause: CloseCause; reason: string } | null = null;
  /**
   * A planned reconnect closed the last connection and the next one has not
   * opened yet: `queue: false` requests wait for it instead of failing.
   */
  private plannedGap = false;
  /**
   * The connection opened after a planned gap and is not ready yet (its
   * resubscribes unanswered): `queue: false` requests made meanwhile are
   * held as in the gap, at most their timeout.
   */
  private plannedOpen = false;
  /** Connections ended other than by plan (see dropBoundWaiting): a `queue: false` request waiting to retry is not held past one. */
  private drops = 0;
  private pingOutstanding = false;
  /**
   * A token for the next connect, with its exp (see tokenExp): fetched
   * ahead of expiry, or come after the attempt it was fetched for failed.
   */
  private nextToken: { token: string; exp: number | null } | null = null;
  /** The attempt waiting for a token, with its URL (see tokenArrived); null for none. */
  private tokenWaiter: { gen: number; url: string } | null = null;
  /**
   * When the token of the current connection expires: its `exp` in ms,
   * on the server's clock (the one that decides); null when unknown.
   */
  private tokenExp: number | null = null;
  /**
   * The server's clock minus this client's (ms), as last reported by a
   * connection (see measureClock); null before one did, and once the
   * server took a token it called expired (see handleOpen). It plans the
   * token refresh; it never refuses a token.
   */
  private clockOffset: number | null = null;
  /** The current connection has reported the server's clock. */
  private clockMeasured = false;
  /** Query parameters every later handshake carries (see setConnectParam). */
  private readonly connectParams = new Map<string, string>();

  private _latency: number | null = null;
  private _session: HelloAck | null = null;
  private lastOpenedAt: Date | null = null;
  private lastClosedAt: Date | null = null;
  private snap: ClientSnapshot;

  constructor(options: WebSocketClientOptions) {
    this.opts = resolveOptions(options);
    this.snap = this.buildSnapshot();
  }

  // ---- observable state ----

  get state(): ConnectionState {
    return this._state;
  }

  get connected(): boolean {
    return this._state === 'open';
  }

  /** Round-trip time (ms) of the latest ping, or null before the first. */
  get latency(): number | null {
    return this._latency;
  }

  /** Requests waiting to be sent (queued, waiting for resend, delayed by rate limiting). */
  get queuedMessages(): number {
    return this.snap.queuedMessages;
  }

  /** Requests sent and awaiting their reply. */
  get pendingRequests(): number {
    return this.snap.pendingRequests;
  }

  /** The channels this client wants to be subscribed to (resubscribed after every reconnect). */
  get subscriptions(): ReadonlySet<string> {
    return new Set(this.channels.keys());
  }

  /**
   * Whether the server has acknowledged `channel`'s subscription on the
   * current connection (a channel in `subscriptions` may still be waiting
   * for it, e.g. a resubscribe retried after a timeout).
   */
  isSubscribed(channel: string): boolean {
    const entry = this.channels.get(channel);
    return entry !== undefined && entry.confirmedGen === this.gen && this.socketOpen();
  }

  /** The `requestTimeout` option: the reply timeout (ms) of a request made without its own; 0 for none. */
  get requestTimeout(): number {
    return this.opts.requestTimeout;
  }

  /** The ack of `hello` on the current (or last) connection. */
  get session(): HelloAck | null {
    return this._session;
  }

  /** The current snapshot; the same object until something changes (for useSyncExternalStore). */
  readonly getSnapshot = (): ClientSnapshot => this.snap;

  /** Calls `listener` whenever the snapshot changes; returns the unsubscribe function. */
  readonly subscribeSnapshot = (listener: () => void): (() => void) => this.emitter.on('snapshot', () => listener());

  /** Adds an event listener; returns the function that removes it. */
  on<K extends keyof WebSocketClientEvents>(event: K, listener: Listener<WebSocketClientEvents, K>): () => void {
    return this.emitter.on(event, listener);
  }

  /** Like `on`, for one event only. */
  once<K extends keyof WebSocketClientEvents>(event: K, listener: Listener<WebSocketClientEvents, K>): () => void {
    return this.emitter.once(event, listener);
  }

  /** Listens to the frames pushed on one channel. */
  onChannel<P = unknown>(channel: string, listener: (message: WebSocketMessage<P>) => void): () => void {
    return this.emitter.on('message', (m) => {
      if (m.channel === channel && m.replyTo === undefined) listener(m as WebSocketMessage<P>);
    });
  }

  // ---- connection lifecycle ----

  /**
   * Sets a query parameter that the URL of every later handshake carries
   * (the server's `$connect` reads it), replacing one of the same name in
   * `url`; `null` stops adding it. The connection already open is not
   * affected. The PresenceManager sets `status=offline` while its user
   * appears offline, so that a new connection starts hidden. `token` is
   * refused (a TypeError): it is `getToken`'s.
   */
  setConnectParam(name: string, value: string | null): void {
    if (name === 'token') throw new TypeError('WebSocketClient: the token parameter comes from url or getToken');
    if (value === null) this.connectParams.delete(name);
    else this.connectParams.set(name, value);
  }

  /**
   * Opens the connection. A no-op when open or connecting; while waiting to
   * reconnect, tries at once.
   */
  connect(): void {
    if (this.destroyed) throw new Error('WebSocketClient: connect() after destroy()');
    if (this.opts.WebSocketImpl === undefined && typeof globalThis.WebSocket !== 'function') {
      throw new Error('WebSocketClient: this platform has no WebSocket; pass the WebSocketImpl option');
    }
    if (this._state === 'open' || this._state === 'connecting') return;
    if (this._state === 'reconnecting') {
      if (this.reconnectTimer !== null) {
        this.clearTimer('reconnectTimer');
        this.openSocket();
      }
      return;
    }
    this.manualClose = false;
    this.attempts = 0;
    this.backoffStep = 0;
    this.setState('connecting');
    this.openSocket();
  }

  /**
   * Closes the connection and stops reconnecting. Pending requests are kept:
   * in-flight ones go back to the queue and are resent on the next
   * `connect()` (those of RESENT_REQUEST_TYPES; the others reject with
   * DISCONNECTED). Use `clearQueue()` or `destroy()` to drop them.
   */
  disconnect(code = 1000, reason = 'client disconnect'): void {
    this.manualClose = true;
    this.clearTimer('reconnectTimer');
    this.clearTimer('connectTimer');
    this.clearTimer('stableTimer');
    this.connectPhase = null;
    this.gen++;
    const sock = this.socket;
    if (sock !== null) {
      this.teardown();
      safeClose(sock, code, reason);
      this.emitter.emit('close', { code, reason, wasClean: true, willReconnect: false, cause: 'client' });
    } else if (this.plannedGap) {
      this.dropBoundWaiting();
    }
    if (this._state !== 'idle') this.setState('closed');
    this.update();
  }

  /** Disconnects, rejects every pending request with CLIENT_DESTROYED and removes all listeners. */
  destroy(): void {
    if (this.destroyed) return;
    this.disconnect();
    this.destroyed = true;
    const err = (e: Outbound): RealtimeError =>
      new RealtimeError({ code: 'CLIENT_DESTROYED', message: 'the client was destroyed', messageId: e.messageId });
    for (const e of this.takeAllWaiting(true)) e.reject(err(e));
    for (const entry of this.channels.values()) {
      this.clearGapTimer(entry);
      this.clearRetryTimer(entry);
      for (const w of entry.waiters) w.reject(new RealtimeError({ code: 'CLIENT_DESTROYED', message: 'the client was destroyed' }));
    }
    this.channels.clear();
    this.holders.clear();
    this.update();
    this.emitter.emit('destroy', {});
    this.emitter.removeAll();
    if (singleton === this) singleton = null;
  }

  /** Rejects every request that is waiting to be sent with QUEUE_CLEARED; returns how many. */
  clearQueue(): number {
    const dropped = this.takeAllWaiting(false);
    for (const e of dropped) {
      e.reject(new RealtimeError({ code: 'QUEUE_CLEARED', message: 'the queue was cleared', messageId: e.messageId }));
    }
    this.update();
    return dropped.length;
  }

  /**
   * Withdraws the request with `messageId` if it never left the client
   * (queued, or waiting for a connection): it is rejected with `reason`,
   * by default a RealtimeError CANCELLED, and never sent. Returns whether
   * it was withdrawn. A request written once (in flight, waiting to be
   * sent again after a drop, or to retry after a refusal) cannot be
   * cancelled: the server may have it, and its reply settles it.
   */
  cancel(messageId: string, reason?: RealtimeError): boolean {
    for (const list of [this.queue, this.resend]) {
      const i = list.findIndex((e) => e.messageId === messageId && !e.internal && !e.written);
      if (i < 0) continue;
      const [e] = list.splice(i, 1) as [Outbound];
      this.clearEntryTimer(e); // a held request's wait (see onHoldTimeout)
      e.reject(reason ?? new RealtimeError({ code: 'CANCELLED', message: `${e.type} was cancelled before it was sent`, messageId }));
      this.update();
      return true;
    }
    return false;
  }

  // ---- requests ----

  /**
   * Sends a request and resolves with the payload of its `ack` (or `pong`),
   * or rejects with a RealtimeError: the server's code, TIMEOUT,
   * QUEUE_OVERFLOW, FRAME_TOO_LARGE, ... The reply timeout runs only while
   * the request is on the wire; queued time does not count.
   */
  request<T extends RequestType | (string & {}), R = AckPayload<T>>(
    type: T,
    params: RequestParams = {},
    options: RequestOptions = {},
  ): Promise<R> {
    if (this.destroyed) {
      return Promise.reject(new RealtimeError({ code: 'CLIENT_DESTROYED', message: 'the client was destroyed' }));
    }
    let e: Outbound;
    try {
      e = this.createOutbound(type, params.channel, params.payload, {
        tracked: true,
        internal: false,
        bound: options.queue === false,
        hold: options.hold !== false,
        timeout: options.timeout ?? this.opts.requestTimeout,
        retry: options.retry === false ? 'none' : 'rate-limited',
        retries: this.opts.rateLimitRetries,
        messageId: options.messageId,
      });
    } catch (err) {
      return Promise.reject(err);
    }
    const p = new Promise<R>((resolve, reject) => {
      e.resolve = resolve as (payload: unknown) => void;
      e.reject = reject;
    });
    if (options.queue === false && (!this.socketOpen() || this.draining !== null)) {
      if ((!this.plannedGap && this.draining === null) || !e.hold) {
        e.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'not connected', messageId: e.messageId }));
        return p;
      }
      // The client is replacing its connection by plan: wait for the next
      // one, at most the request's timeout. Not on the old one: closing it
      // could cut the request off after the server applied it.
      this.holdForNext(e);
    } else if (options.queue === false && e.hold && this.plannedOpen && !this.ready) {
      // The new connection is open but not ready: the request waits behind
      // its resubscribes, at most its timeout, as if made before it opened.
      this.holdForNext(e);
    }
    this.submit(e);
    return p;
  }

  /**
   * Sends a frame without waiting for its reply (the reply, if any, arrives
   * as a `message` event). Held while not connected unless `queue: false`;
   * not resent if the connection drops after it left. Returns the messageId.
   * Throws a RealtimeError FRAME_TOO_LARGE for an oversized frame, and
   * BAD_REQUEST for a payload JSON cannot encode (a BigInt, a cycle) or a
   * `messageId` the server does not accept or that a request not settled
   * yet carries.
   */
  send<P = unknown>(message: OutgoingMessage<P>, options: SendOptions = {}): string {
    if (this.destroyed) throw new RealtimeError({ code: 'CLIENT_DESTROYED', message: 'the client was destroyed' });
    const e = this.createOutbound(message.type, message.channel, message.payload, {
      tracked: false,
      internal: false,
      timeout: 0,
      retry: 'none',
      retries: 0,
      messageId: message.messageId,
    });
    if (options.queue === false && !this.socketOpen()) {
      this.log('dropped while offline', e.type, e.messageId);
      return e.messageId;
    }
    this.submit(e);
    return e.messageId;
  }

  /** Publishes `payload` on `channel`; subscribers receive it as an `update`. */
  publish<P = unknown>(channel: string, payload: P, options: RequestOptions = {}): Promise<AckPayload<'publish'>> {
    return this.request('publish', { channel, payload }, options);
  }

  /**
   * Subscribes to `channel`. The channel stays in `subscriptions` and is
   * resubscribed after every reconnect until `unsubscribe`. While not
   * connected, the promise settles with the next connection's subscribe.
   * A subscribe that fails with a retryable error (no reply: TIMEOUT;
   * UNAVAILABLE, INTERNAL) is sent again after a backoff delay, on the same
   * connection and on later ones, and the promise waits for it; it rejects
   * when the server refuses the channel with a code that is not retryable
   * (the channel is then dropped and `subscription-error` emitted), on
   * `unsubscribe` (CANCELLED) and on `destroy`.
   */
  subscribe(channel: string): Promise<SubscribeAck> {
    if (this.destroyed) {
      return Promise.reject(new RealtimeError({ code: 'CLIENT_DESTROYED', message: 'the client was destroyed' }));
    }
    if (!isValidChannel(channel)) {
      return Promise.reject(
        new RealtimeError({ code: 'INVALID_CHANNEL', message: `invalid channel name ${JSON.stringify(channel)}` }),
      );
    }
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      entry = {
        waiters: [],
        confirmedGen: -1,
        inflightGen: -1,
        stream: new ChannelStream(
          channel,
          (m) => this.emitter.emit('message', m),
          (since, position) => this.emitter.emit('recovery-failed', { channel, since, position }),
          // With no reply timeout, a first subscribe whose reply never
          // comes would hold the live updates for good.
          this.opts.requestTimeout > 0,
        ),
        gapTimer: null,
        retryTimer: null,
        failures: 0,
      };
      this.channels.set(channel, entry);
      this.update();
    }
    if (entry.confirmedGen === this.gen && this.socketOpen()) {
      const position = entry.stream.position;
      return Promise.resolve(position === null ? { channel } : { channel, position });
    }
    const p = new Promise<SubscribeAck>((resolve, reject) => entry.waiters.push({ resolve, reject }));
    if (this.socketOpen() && entry.inflightGen !== this.gen) void this.sendSubscribe(channel, entry);
    return p;
  }

  /**
   * Holds `channel` for one of its users (a component, a manager):
   * subscribes to it and returns the function that lets go of it (once; a
   * second call does nothing). The channel is unsubscribed when its last
   * holder lets go, so that users sharing a channel do not unsubscribe it
   * under each other: the React hooks, RealtimeSyncManager and
   * PresenceManager hold their channels this way. A failed subscribe is
   * reported by `subscription-error` (or by a `subscribe` call for the same
   * channel); `unsubscribe` drops a channel whatever holds it. A plain
   * `subscribe` is not a holder: when holders share a channel the
   * application also subscribed to itself, the last release unsubscribes
   * it, so an application that follows such a channel holds it too.
   */
  retain(channel: string): () => void {
    this.holders.set(channel, (this.holders.get(channel) ?? 0) + 1);
    this.subscribe(channel).catch(noop);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.holders.get(channel) ?? 1) - 1;
      if (n > 0) {
        this.holders.set(channel, n);
        return;
      }
      this.holders.delete(channel);
      this.unsubscribe(channel).catch(noop);
    };
  }

  /**
   * Unsubscribes from `channel` and stops resubscribing it, whatever holds
   * it (see `retain`). Resolves at once when not connected (a new
   * connection starts without subscriptions).
   */
  unsubscribe(channel: string): Promise<UnsubscribeAck> {
    const entry = this.channels.get(channel);
    if (entry === undefined) return Promise.resolve({ channel, wasSubscribed: false });
    this.channels.delete(channel);
    this.clearGapTimer(entry);
    this.clearRetryTimer(entry);
    entry.stream.abort();
    this.update();
    for (const w of entry.waiters) {
      w.reject(new RealtimeError({ code: 'CANCELLED', message: `unsubscribed from ${channel} before the subscribe completed` }));
    }
    entry.waiters = [];
    const gen = this.gen;
    if (!this.socketOpen() || (entry.confirmedGen !== gen && entry.inflightGen !== gen)) {
      return Promise.resolve({ channel, wasSubscribed: false });
    }
    const op = (): Promise<unknown> =>
      gen === this.gen
        ? this.internalRequest('unsubscribe', channel, 'retryable', SUBSCRIPTION_RETRIES)
        : Promise.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'the connection dropped' }));
    return this.chainChannel(channel, () =>
      op().then(
        (ack) => (isRecord(ack) && typeof ack['wasSubscribed'] === 'boolean'
          ? { channel, wasSubscribed: ack['wasSubscribed'] }
          : { channel, wasSubscribed: true }),
        (err: RealtimeError) => {
          if (err.code === 'DISCONNECTED' || err.code === 'NOT_SUBSCRIBED') return { channel, wasSubscribed: false };
          throw err;
        },
      ),
    );
  }

  // ---- internals: outbound ----

  private createOutbound(
    type: string,
    channel: string | undefined,
    payload: unknown,
    o: {
      tracked: boolean;
      internal: boolean;
      bound?: boolean;
      hold?: boolean;
      timeout: number;
      retry: RetryPolicy;
      retries: number;
      messageId?: string | undefined;
    },
  ): Outbound {
    if (o.messageId !== undefined && !isValidMessageId(o.messageId)) {
      // The server could not even name the request in its refusal: the
      // reply would never come and the request would end as a TIMEOUT.
      throw new RealtimeError({
        code: 'BAD_REQUEST',
        message: `invalid messageId ${JSON.stringify(o.messageId)}: 1..128 printable ASCII characters (U+0021-U+007E)`,
        retryable: false,
      });
    }
    if (o.messageId !== undefined && this.unsettled(o.messageId)) {
      // Its reply could not be told from the first one's, and the first
      // request would never settle.
      throw new RealtimeError({
        code: 'BAD_REQUEST',
        message: `messageId ${JSON.stringify(o.messageId)} is taken by a request not settled yet; send it again once that one settled`,
        retryable: false,
        messageId: o.messageId,
      });
    }
    const messageId = o.messageId ?? this.opts.generateId();
    const env: Record<string, unknown> = { type };
    if (channel !== undefined) env['channel'] = channel;
    if (payload !== undefined) env['payload'] = payload;
    env['timestamp'] = new Date(this.opts.clock.now()).toISOString();
    env['messageId'] = messageId;
    let frame: string;
    try {
      frame = JSON.stringify(env);
    } catch (err) {
      // A BigInt, a cycle, a toJSON that throws: nothing can be sent, now
      // or later.
      throw new RealtimeError({
        code: 'BAD_REQUEST',
        message: `the ${type} payload cannot be encoded as JSON: ${err instanceof Error ? err.message : String(err)}`,
        retryable: false,
        messageId,
        cause: err,
      });
    }
    const bytes = utf8Length(frame);
    if (bytes > this.opts.maxFrameBytes) throw new FrameTooLargeError(bytes, this.opts.maxFrameBytes, messageId);
    return {
      seq: ++this.seq,
      messageId,
      type,
      channel,
      frame,
      tracked: o.tracked,
      internal: o.internal,
      bound: o.bound ?? false,
      hold: o.hold ?? true,
      timeout: o.timeout,
      retry: o.retry,
      retriesLeft: o.retries,
      retryAttempt: 0,
      gen: -1,
      timer: null,
      holdUntil: null,
      written: false,
      resolve: noop,
      reject: noop,
    };
  }

  /**
   * Whether a request with `messageId` has not settled yet: in flight,
   * queued, waiting to be sent again, or waiting out a RATE_LIMITED delay.
   */
  private unsettled(messageId: string): boolean {
    if (this.inflight.has(messageId)) return true;
    const same = (e: Outbound): boolean => e.messageId === messageId;
    return this.queue.some(same) || this.resend.some(same) || this.paced.some(same) || [...this.delayed.keys()].some(same);
  }

  private socketOpen(): boolean {
    return this.socket !== null && this.socket.readyState === WS_OPEN && this._state === 'open';
  }

  private canWrite(): boolean {
    return this.ready && this.draining === null && this.socketOpen();
  }

  /** Writes `e` now if nothing is ahead of it and the pacing allows, else queues it. */
  private submit(e: Outbound): void {
    if (this.canWrite() && this.paced.length === 0 && this.queue.length === 0 && this.resend.length === 0 && this.takeToken(e)) {
      this.write(e);
    } else {
      this.enqueue(e);
      this.pump();
    }
    this.update();
  }

  /**
   * Queues `e`. On overflow the oldest read (READ_REQUEST_TYPES) goes
   * first, so that reads, such as the sync manager's catch-up syncs at a
   * reconnect, never push out the writes queued before them; only when no
   * read is queued does the oldest write go.
   */
  private enqueue(e: Outbound): void {
    this.queue.push(e);
    while (this.queue.length > this.opts.messageQueueSize) {
      const read = this.queue.findIndex((q) => READ_REQUEST_TYPES.has(q.type));
      const [dropped] = this.queue.splice(read >= 0 ? read : 0, 1);
      if (dropped === undefined) break;
      this.log('queue overflow: dropping', dropped.type, dropped.messageId);
      this.clearEntryTimer(dropped); // a held request's wait (see onHoldTimeout)
      const which = READ_REQUEST_TYPES.has(dropped.type) ? 'the oldest read' : 'the oldest request';
      dropped.reject(
        new RealtimeError({
          code: 'QUEUE_OVERFLOW',
          message: `the offline queue is full (${this.opts.messageQueueSize}); ${which} was dropped`,
          messageId: dropped.messageId,
        }),
      );
      const info: RequestInfo = { messageId: dropped.messageId, type: dropped.type };
      if (dropped.channel !== undefined) info.channel = dropped.channel;
      this.emitter.emit('queue-overflow', { dropped: info, queueSize: this.opts.messageQueueSize });
    }
  }

  /**
   * Writes waiting requests as fast as the pacing allows: the connection's
   * own first (they may go before `ready`), then resends, then the queue.
   */
  private pump(): void {
    if (!this.socketOpen()) return;
    for (;;) {
      const e = this.paced[0] ?? (this.ready && this.draining === null ? (this.resend[0] ?? this.queue[0]) : undefined);
      if (e === undefined) break;
      if (!this.takeToken(e)) {
        this.schedulePump();
        break;
      }
      if (this.paced[0] === e) this.paced.shift();
      else if (this.resend[0] === e) this.resend.shift();
      else this.queue.shift();
      if (!this.write(e)) break;
    }
    this.update();
  }

  private schedulePump(): void {
    if (this.pumpTimer !== null || this.opts.rateLimit === false) return;
    const wait = Math.max(1, Math.ceil(((1 - this.tokens) / this.opts.rateLimit.rate) * 1000));
    this.pumpTimer = this.opts.clock.setTimeout(() => {
      this.pumpTimer = null;
      this.pump();
    }, wait);
  }

  private refill(): void {
    if (this.opts.rateLimit === false) return;
    const now = this.opts.clock.now();
    const elapsed = Math.max(0, now - this.tokensAt);
    this.tokensAt = now;
    this.tokens = Math.min(this.opts.rateLimit.burst, this.tokens + (elapsed / 1000) * this.opts.rateLimit.rate);
  }

  /**
   * Takes a token for `e`; hello and ping take one even into debt (they
   * keep the connection alive), cursors need none.
   */
  private takeToken(e: Outbound): boolean {
    if (this.opts.rateLimit === false || e.type === 'cursor') return true;
    this.refill();
    if (this.tokens >= 1 || (e.internal && unpaced(e.type))) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Puts `e` on the wire. Returns false (and keeps `e` for resend) when the socket refuses it. */
  private write(e: Outbound): boolean {
    const sock = this.socket;
    if (sock === null || sock.readyState !== WS_OPEN) {
      this.keepForResend(e);
      return false;
    }
    try {
      sock.send(e.frame);
    } catch (err) {
      this.log('send failed', e.type, e.messageId, err);
      this.keepForResend(e);
      return false;
    }
    e.written = true;
    this.log('>', e.frame);
    if (!e.tracked) return true;
    this.clearEntryTimer(e); // the wait for a connection (see onHoldTimeout) ends
    e.gen = this.gen;
    this.inflight.set(e.messageId, e);
    if (e.timeout > 0) {
      e.timer = this.opts.clock.setTimeout(() => this.onRequestTimeout(e), e.timeout);
    }
    return true;
  }

  private keepForResend(e: Outbound): void {
    if (e.internal || e.bound) {
      e.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'the connection dropped', messageId: e.messageId }));
      return;
    }
    if (!e.tracked) return; // fire-and-forget frames are not resent
    insertBySeq(this.resend, e);
  }

  private onRequestTimeout(e: Outbound): void {
    e.timer = null;
    if (this.inflight.get(e.messageId) !== e) return;
    this.inflight.delete(e.messageId);
    e.reject(
      new RealtimeError({
        code: 'TIMEOUT',
        message: `no reply to ${e.type} within ${e.timeout} ms`,
        messageId: e.messageId,
      }),
    );
    this.update();
    this.checkDrained();
  }

  /**
   * Holds a `queue: false` request for the next connection of a planned
   * reconnect, at most its timeout from when it was first held (see
   * onHoldTimeout).
   */
  private holdForNext(e: Outbound): void {
    if (e.timer !== null || e.timeout <= 0) return;
    const now = this.opts.clock.now();
    e.holdUntil ??= now + e.timeout;
    e.timer = this.opts.clock.setTimeout(() => this.onHoldTimeout(e), Math.max(0, e.holdUntil - now));
  }

  /** Holds every waiting `queue: false` request for the next connection of a planned reconnect. */
  private holdBoundWaiting(): void {
    this.dropBoundWaiting((e) => !e.hold);
    for (const e of [...this.resend, ...this.queue]) if (e.bound) this.holdForNext(e);
  }

  /**
   * A `queue: false` request held through a planned reconnect was not sent
   * within its timeout: the next connection did not open, or opened and
   * was not ready (its resubscribes unanswered). The message says which.
   */
  private onHoldTimeout(e: Outbound): void {
    e.timer = null;
    const list = this.queue.includes(e) ? this.queue : this.resend;
    const i = list.indexOf(e);
    if (i < 0) return;
    list.splice(i, 1);
    const waited =
      this.plannedOpen && !this.ready && this.socketOpen()
        ? `the new connection was not ready within ${e.timeout} ms (planned reconnect: its resubscribes unanswered)`
        : `no new connection within ${e.timeout} ms (planned reconnect)`;
    e.reject(new RealtimeError({ code: 'DISCONNECTED', message: `${waited}; not sent`, messageId: e.messageId }));
    this.update();
  }

  /**
   * A connection-scoped request (hello, ping, subscriptions, history reads):
   * hello and ping are written at once, the others as the pacing allows.
   */
  private internalRequest(
    type: string,
    channel: string | undefined,
    retry: RetryPolicy,
    retries: number,
    timeout = this.opts.requestTimeout,
    payload?: unknown,
  ): Promise<unknown> {
    if (!this.socketOpen()) {
      return Promise.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'not connected' }));
    }
    const e = this.createOutbound(type, channel, payload, { tracked: true, internal: true, timeout, retry, retries });
    const p = new Promise<unknown>((resolve, reject) => {
      e.resolve = resolve;
      e.reject = reject;
    });
    this.writeInternal(e);
    return p;
  }

  /** Writes a connection-scoped request now, or keeps it until the pacing allows. */
  private writeInternal(e: Outbound): void {
    if ((unpaced(e.type) || this.paced.length === 0) && this.takeToken(e)) {
      this.write(e);
      return;
    }
    insertBySeq(this.paced, e);
    this.schedulePump();
  }

  /**
   * Removes and returns every request waiting to be sent; the connection's
   * own requests waiting for a retry only with `includeInternal`.
   */
  private takeAllWaiting(includeInternal: boolean): Outbound[] {
    const all = [...this.resend, ...this.queue];
    this.resend.length = 0;
    this.queue.length = 0;
    if (includeInternal) all.push(...this.paced.splice(0));
    for (const [e, timer] of this.delayed) {
      if (e.internal && !includeInternal) continue;
      this.opts.clock.clearTimeout(timer);
      this.delayed.delete(e);
      all.push(e);
    }
    for (const e of all) this.clearEntryTimer(e); // a held request's wait (see onHoldTimeout)
    return all;
  }

  // ---- internals: subscriptions ----

  /** Runs channel operations one after another, so the server sees them in order. */
  private chainChannel<T>(channel: string, op: () => Promise<T>): Promise<T> {
    const prev = this.channelOps.get(channel) ?? Promise.resolve();
    const next = prev.then(op);
    const settled = next.then(noop, noop);
    this.channelOps.set(channel, settled);
    void settled.then(() => {
      if (this.channelOps.get(channel) === settled) this.channelOps.delete(channel);
    });
    return next;
  }

  /**
   * Subscribes `channel` on the current connection; settles (never rejects)
   * when done. On a channel with history it resubscribes from the last
   * position delivered (`since`) and delivers the publications missed, in
   * offset order, before the live updates that arrived meanwhile; when the
   * server cannot recover them it emits `recovery-failed` and continues
   * live.
   *
   * Only a refusal that is not retryable (FORBIDDEN, INVALID_CHANNEL, ...)
   * drops the channel. After a retryable failure (no reply: TIMEOUT, as
   * when the Lambda fails and API Gateway answers without replyTo; or
   * UNAVAILABLE, INTERNAL once the request's own retries ran out) its
   * holders still hold it: the channel is kept, with its waiters, and
   * subscribed again on this connection after a backoff delay (and on
   * every later connection).
   */
  private sendSubscribe(channel: string, entry: ChannelEntry): Promise<void> {
    const gen = this.gen;
    entry.inflightGen = gen;
    this.clearGapTimer(entry);
    this.clearRetryTimer(entry);
    entry.stream.release();
    const since = entry.stream.begin();
    const op = (): Promise<unknown> =>
      gen === this.gen
        ? this.internalRequest('subscribe', channel, 'retryable', SUBSCRIPTION_RETRIES, this.opts.requestTimeout, since === null ? undefined : { since })
        : Promise.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'the connection dropped' }));
    return this.chainChannel(channel, () => op().then((ack) => this.recover(channel, entry, gen, since, ack))).then(
      (ack) => {
        if (this.channels.get(channel) !== entry || entry.inflightGen !== gen) return;
        entry.inflightGen = -1;
        entry.confirmedGen = gen;
        entry.failures = 0;
        this.emitter.emit('subscribed', { channel });
        const result: SubscribeAck = isRecord(ack) && typeof ack['channel'] === 'string' ? { channel: ack['channel'] } : { channel };
        const position = entry.stream.position;
        if (position !== null) result.position = position;
        const waiters = entry.waiters;
        entry.waiters = [];
        for (const w of waiters) w.resolve(result);
      },
      (err: RealtimeError) => {
        if (this.channels.get(channel) !== entry || entry.inflightGen !== gen) return;
        entry.inflightGen = -1;
        // The live updates held for a first subscribe are delivered.
        entry.stream.release();
        // Not subscribed on this connection; the next one resubscribes.
        if (err.code === 'DISCONNECTED' || gen !== this.gen) return;
        this.armGapTimer(channel, entry);
        if (err.retryable) {
          this.log('subscribe failed, trying again', channel, err.code);
          this.retrySubscribe(channel, entry, gen);
          return;
        }
        this.channels.delete(channel);
        const waiters = entry.waiters;
        entry.waiters = [];
        for (const w of waiters) w.reject(err);
        this.log('subscribe failed', channel, err.code);
        this.emitter.emit('subscription-error', { channel, error: err });
        this.update();
      },
    );
  }

  /** Subscribes `channel` again on connection `gen` after a backoff delay, unless something else did meanwhile. */
  private retrySubscribe(channel: string, entry: ChannelEntry, gen: number): void {
    // At least a second apart: a server that fails every subscribe at once
    // is not hammered, whatever the reconnect options.
    const delay = Math.max(1000, backoffDelay(entry.failures, this.opts, this.opts.random));
    entry.failures++;
    entry.retryTimer = this.opts.clock.setTimeout(() => {
      entry.retryTimer = null;
      if (gen !== this.gen || !this.socketOpen() || this.channels.get(channel) !== entry) return;
      if (entry.inflightGen === gen || entry.confirmedGen === gen) return;
      void this.sendSubscribe(channel, entry);
    }, delay);
  }

  private clearRetryTimer(entry: ChannelEntry): void {
    if (entry.retryTimer !== null) {
      this.opts.clock.clearTimeout(entry.retryTimer);
      entry.retryTimer = null;
    }
  }

  /**
   * Applies the stream members of a subscribe ack: the position, or the
   * recovery from `since` (reading further history pages while the server
   * has more). Resolves with the ack once the missed publications and the
   * live updates held meanwhile are delivered.
   */
  private async recover(channel: string, entry: ChannelEntry, gen: number, since: StreamPosition | null, ack: unknown): Promise<unknown> {
    const stream = entry.stream;
    const position = isRecord(ack) ? streamPosition(ack['position']) : null;
    if (position === null) {
      stream.abort(); // a channel without history
      return ack;
    }
    if (since === null) {
      // The live updates that overtook the reply are delivered after its
      // position; those past a gap wait for it to fill.
      stream.start(position);
      if (gen === this.gen) this.armGapTimer(channel, entry);
      return ack;
    }
    await this.readStream(channel, entry, gen, since, ack);
    return ack;
  }

  /**
   * Delivers a recovery page (`page`, the reply to subscribe or history
   * since `since`; read first when not given) and the pages after it, then
   * the held live updates; emits `recovery-failed` when the server reports
   * a gap. Held updates still past a gap that the last page's position is
   * short of (published after the server read the stream, their own
   * fan-outs lost or late) wait for the gap read (GAP_FILL_DELAY); a gap
   * that the position reaches past and the pages did not fill cannot be
   * read, and is given up as below.
   *
   * A page whose read fails with a retryable error (TIMEOUT; UNAVAILABLE,
   * INTERNAL once the request's own retries ran out) is read again after a
   * backoff delay, the live updates still held, up to STREAM_READ_ATTEMPTS
   * reads in a row (`failures` of them failed before this call). The last
   * of them failing, or a read refused otherwise, gives the gaps up (see
   * giveUpGaps; `until` is the position of a page read before this call).
   * Each read waits at most requestTimeout for its reply, and the default
   * requestTimeout when that is 0: the live updates held for a reply that
   * never comes must not wait for good.
   */
  private async readStream(
    channel: string,
    entry: ChannelEntry,
    gen: number,
    since: StreamPosition,
    page?: unknown,
    failures = 0,
    until: StreamPosition | null = null,
  ): Promise<void> {
    const stream = entry.stream;
    const timeout = this.opts.requestTimeout > 0 ? this.opts.requestTimeout : DEFAULTS.requestTimeout;
    let from = since;
    let failed = failures;
    let last = until;
    try {
      for (;;) {
        if (gen !== this.gen || this.channels.get(channel) !== entry) return;
        if (page === undefined) {
          page = await this.internalRequest('history', channel, 'retryable', SUBSCRIPTION_RETRIES, timeout, { since: from, limit: 1000 });
          if (gen !== this.gen || this.channels.get(channel) !== entry) return;
          failed = 0;
        }
        const p = isRecord(page) ? (page as unknown as Partial<ChannelHistoryAck>) : {};
        const position = streamPosition(p.position);
        if (position === null) {
          stream.end();
          stream.skipGaps();
          return;
        }
        last = position;
        if (p.recovered !== true) {
          stream.skipTo(position);
          this.emitter.emit('recovery-failed', { channel, since: from, position });
          break;
        }
        const before = stream.position?.offset;
        stream.recovered(Array.isArray(p.publications) ? p.publications : [], position.epoch);
        const next = stream.position ?? position;
        if (p.hasMore !== true || next.offset === before) break; // done, or a page that moves nothing
        from = next;
        page = undefined;
      }
      stream.end();
      if (!stream.hasGap) return;
      if (stream.holdsUpTo(last)) {
        this.log('history does not fill a gap it reaches past', channel);
        stream.skipGaps();
        return;
      }
      this.armGapTimer(channel, entry);
    } catch (err) {
      if (gen !== this.gen || this.channels.get(channel) !== entry) return;
      const retryable = err instanceof RealtimeError && err.retryable;
      if (retryable && failed + 1 < STREAM_READ_ATTEMPTS) {
        this.retryRead(channel, entry, gen, failed + 1, last);
        return;
      }
      // Refused, or failing read after read: what the gaps held cannot be
      // read now; the application is told, and gets the held updates.
      this.log(retryable ? `history read failed ${STREAM_READ_ATTEMPTS} times in a row` : 'history read failed', channel, err);
      this.giveUpGaps(channel, entry, last);
    }
  }

  /**
   * Reads the stream of `channel` again from its position on connection
   * `gen` after a backoff delay (`failures` history reads in a row failed
   * with a retryable error; `until` is the position of the last page
   * read); its live updates stay held meanwhile.
   */
  private retryRead(channel: string, entry: ChannelEntry, gen: number, failures: number, until: StreamPosition | null): void {
    // At least a second apart, as the subscribes.
    const delay = Math.max(1000, backoffDelay(failures - 1, this.opts, this.opts.random));
    this.log('history read failed, trying again', channel);
    this.clearGapTimer(entry);
    entry.gapTimer = this.opts.clock.setTimeout(() => {
      entry.gapTimer = null;
      if (gen !== this.gen || !this.socketOpen() || this.channels.get(channel) !== entry) return;
      const since = entry.stream.position;
      if (since !== null) void this.readStream(channel, entry, gen, since, undefined, failures, until);
    }, delay);
  }

  /**
   * Gives up the gaps of `channel` that its history reads did not fill:
   * delivers the held updates in offset order, each gap before one reported
   * with `recovery-failed` (up to just before it), then, when the position
   * is still short of `until` (the position of a page read, whose next
   * pages were not), reports the rest up to `until` and continues from it.
   */
  private giveUpGaps(channel: string, entry: ChannelEntry, until: StreamPosition | null): void {
    const stream = entry.stream;
    stream.skipGaps();
    const since = stream.position;
    if (until === null || since === null || since.epoch !== until.epoch || since.offset >= until.offset) return;
    stream.skipTo(until);
    this.emitter.emit('recovery-failed', { channel, since, position: until });
  }

  /** A live update of a channel with history: delivered in offset order, once. */
  private liveUpdate(m: WebSocketMessage & { channel: string; offset: number; epoch: string }): boolean {
    const entry = this.channels.get(m.channel);
    if (entry === undefined) return false;
    entry.stream.live(m);
    this.armGapTimer(m.channel, entry);
    return true;
  }

  /**
   * When live updates of `channel` wait past a gap: reads the gap from
   * history if it has not filled within GAP_FILL_DELAY.
   */
  private armGapTimer(channel: string, entry: ChannelEntry): void {
    if (!entry.stream.hasGap || entry.gapTimer !== null || !this.socketOpen()) return;
    const gen = this.gen;
    entry.gapTimer = this.opts.clock.setTimeout(() => {
      entry.gapTimer = null;
      if (gen !== this.gen || this.channels.get(channel) !== entry || !entry.stream.hasGap) return;
      const since = entry.stream.begin();
      if (since !== null) void this.readStream(channel, entry, gen, since);
    }, GAP_FILL_DELAY);
  }

  private clearGapTimer(entry: ChannelEntry): void {
    if (entry.gapTimer !== null) {
      this.opts.clock.clearTimeout(entry.gapTimer);
      entry.gapTimer = null;
    }
  }

  // ---- internals: socket lifecycle ----

  private openSocket(): void {
    const gen = ++this.gen;
    this.armConnectTimer(gen);
    const url = this.opts.url;
    if (typeof url === 'string') {
      this.connectWith(gen, url);
      return;
    }
    let resolved: string | Promise<string>;
    try {
      resolved = url();
    } catch (err) {
      this.connectFailed(gen, err);
      return;
    }
    if (typeof resolved === 'string') {
      this.connectWith(gen, resolved);
      return;
    }
    this.connectPhase = 'url';
    resolved.then(
      (u) => this.connectWith(gen, u),
      (err: unknown) => this.connectFailed(gen, err),
    );
  }

  /**
   * Bounds attempt `gen` by connectTimeout, from its start: the url
   * function and getToken count, as does the handshake. An attempt still
   * waiting for its URL or token then fails like one whose socket could not
   * be created (a URL that comes later is ignored, a token is kept for the
   * next attempt); a socket not open yet is closed.
   */
  private armConnectTimer(gen: number): void {
    this.clearTimer('connectTimer');
    this.connectPhase = null;
    if (this.opts.connectTimeout <= 0) return;
    this.connectTimer = this.opts.clock.setTimeout(() => {
      this.connectTimer = null;
      if (gen !== this.gen) return;
      const sock = this.socket;
      if (sock !== null) {
        if (sock.readyState !== WS_OPEN) this.dropConnection('connect-timeout', 4000, 'connect timeout');
        return;
      }
      const token = this.connectPhase === 'token';
      // A late URL belongs to an attempt that is over; a late token is kept
      // for the next one (see tokenArrived).
      const next = ++this.gen;
      const err = new Error(`no ${token ? 'token' : 'URL'} within ${this.opts.connectTimeout} ms`);
      this.connectFailed(next, err, 'connect-timeout', token ? 'TOKEN_ERROR' : 'SOCKET_ERROR');
    }, this.opts.connectTimeout);
  }

  /** Opens the socket to `url`, with the connect parameters and a token from `getToken` when that option is set. */
  private connectWith(gen: number, given: string): void {
    const url = this.connectParams.size > 0 ? withQuery(given, this.connectParams) : given;
    if (this.opts.getToken === undefined) {
      this.createSocket(gen, url);
      return;
    }
    const early = this.nextToken;
    this.nextToken = null;
    this.connectPhase = 'token';
    this.tokenWaiter = { gen, url };
    if (early !== null && !this.surelyExpired(early.exp)) {
      void Promise.resolve(early).then((t) => this.tokenArrived(t));
      return;
    }
    this.fetchToken().then(
      (t) => this.tokenArrived(t),
      (err: unknown) => {
        // Not when the attempt got another token meanwhile (see tokenArrived).
        if (this.waitsForToken(gen)) this.connectFailed(gen, err, 'error', 'TOKEN_ERROR');
      },
    );
  }

  /** Whether attempt `gen` is the current one and still waits for its token. */
  private waitsForToken(gen: number): boolean {
    return gen === this.gen && this.connectPhase === 'token' && this.tokenWaiter?.gen === gen;
  }

  /**
   * A token for a connect: the attempt waiting for one connects with it,
   * whichever getToken call it came from. Whatever the offset last
   * measured says of its exp: the server decides, and a token it refuses
   * fails the attempt (backoff). The offset may be stale (the browser clock
   * was corrected since), and only a connection that opens can measure it
   * again. One that comes after its attempt failed (getToken slower than
   * connectTimeout) is kept for the next attempt, instead of being thrown
   * away by every attempt in turn.
   */
  private tokenArrived(t: { token: string; exp: number | null }): void {
    const waiter = this.tokenWaiter;
    if (waiter === null || !this.waitsForToken(waiter.gen)) {
      if (!this.surelyExpired(t.exp)) this.nextToken = t;
      return;
    }
    this.tokenWaiter = null;
    this.tokenExp = t.exp;
    this.createSocket(waiter.gen, withToken(waiter.url, t.token));
  }

  /** Calls `getToken` and reads the token's exp. */
  private fetchToken(): Promise<{ token: string; exp: number | null }> {
    return this.callGetToken().then((token) => ({ token, exp: tokenExpiry(token) }));
  }

  /**
   * Now (ms) on the server's clock: this client's clock corrected by the
   * offset last measured, or this client's clock before any was.
   */
  private serverNow(): number {
    return this.opts.clock.now() + (this.clockOffset ?? 0);
  }

  /** What the current connection's token has left (ms, the server's clock); null when unknown. */
  private tokenLeft(): number | null {
    return this.tokenExp === null ? null : this.tokenExp - this.serverNow();
  }

  /**
   * Whether a token kept for the next connect (see nextToken) has expired
   * by this client's clock and by the server's as last measured alike:
   * getToken is then asked for another. Either clock may be wrong (the
   * offset goes stale when the browser clock is corrected), so neither
   * alone throws a token away.
   */
  private surelyExpired(exp: number | null): boolean {
    return exp !== null && exp <= this.opts.clock.now() && exp <= this.serverNow();
  }

  /**
   * Takes the server's clock: `serverTime` (ms) was read by the server
   * between `sentAt` and `receivedAt` on this client's clock. The token
   * refresh planned is planned again with it.
   */
  private measureClock(serverTime: number, sentAt: number, receivedAt: number): void {
    if (!Number.isFinite(serverTime)) return;
    this.clockOffset = serverTime - (sentAt + receivedAt) / 2;
    this.clockMeasured = true;
    if (this.tokenTimer !== null) {
      this.clearTimer('tokenTimer');
      this.scheduleTokenRefresh();
    }
  }

  /** Calls `getToken`; a missing or empty token is an error. */
  private callGetToken(): Promise<string> {
    const getToken = this.opts.getToken;
    if (getToken === undefined) return Promise.reject(new Error('no getToken option'));
    let got: string | Promise<string>;
    try {
      got = getToken();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return Promise.resolve(got).then((t) => {
      if (typeof t !== 'string' || t === '') throw new Error('getToken returned no token');
      return t;
    });
  }

  /**
   * Plans the token refresh of a connection that just opened (and again
   * once it reported the server's clock): ahead of the token's exp on the
   * server's clock, fetch a new token and reconnect by plan with it.
   */
  private scheduleTokenRefresh(): void {
    const left = this.tokenLeft();
    if (this.opts.getToken === undefined || left === null) return;
    // At least a second apart, so that a token that is (or seems) expired
    // on arrival cannot make the client reconnect in a tight loop.
    const delay = Math.max(1000, left - Math.min(this.opts.tokenRefreshLeeway, left / 2));
    this.tokenTimer = this.opts.clock.setTimeout(() => {
      this.tokenTimer = null;
      this.refreshToken();
    }, delay);
  }

  private refreshToken(): void {
    const gen = this.gen;
    this.log('refreshing the token');
    this.fetchToken().then(
      (t) => {
        // Reconnecting with a token no better than the current one would
        // only plan the next refresh as soon (a loop). One that expires
        // later is taken whatever the offset says of it: the server still
        // accepts the current one, so it accepts that one too.
        const unusable =
          t.exp !== null && this.tokenExp !== null && t.exp <= this.tokenExp
            ? 'getToken returned a token that expires no later than the current one'
            : null;
        if (unusable === null) this.nextToken = t;
        if (gen !== this.gen) return;
        if (unusable !== null) {
          this.refreshFailed(new Error(unusable));
          return;
        }
        if (!this.socketOpen()) return;
        this.plannedReconnect('token-refresh', 'token refresh');
      },
      (err: unknown) => {
        if (gen === this.gen) this.refreshFailed(err);
      },
    );
  }

  private refreshFailed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.emitter.emit('error', new RealtimeError({ code: 'TOKEN_ERROR', message: `cannot refresh the token: ${message}`, cause: err }));
    // Try again while the token lasts; once it expired the server refuses
    // frames and the client reconnects through getToken.
    const left = this.tokenLeft() ?? 0;
    if (left > 0) {
      this.tokenTimer = this.opts.clock.setTimeout(() => {
        this.tokenTimer = null;
        this.refreshToken();
      }, Math.max(100, Math.min(5000, left / 4)));
    }
  }

  private createSocket(gen: number, url: string): void {
    if (gen !== this.gen || this.manualClose || this.destroyed) return;
    this.connectPhase = null;
    const Impl = this.opts.WebSocketImpl ?? (globalThis.WebSocket as unknown as WebSocketConstructor | undefined);
    if (Impl === undefined) {
      this.connectFailed(gen, new Error('no WebSocket implementation'));
      return;
    }
    let sock: WebSocketLike;
    let target: { url: string; protocols: string[] | undefined };
    try {
      target = handshakeTarget(url, this.opts.protocols, this.opts.tokenTransport);
      sock = target.protocols === undefined ? new Impl(target.url) : new Impl(target.url, target.protocols);
    } catch (err) {
      this.connectFailed(gen, err);
      return;
    }
    this.log('connecting', target.url);
    this.socket = sock;
    sock.onopen = () => this.handleOpen(sock);
    sock.onmessage = (ev) => this.handleData(sock, ev.data);
    sock.onclose = (ev) => this.handleClose(sock, ev);
    sock.onerror = () => this.handleSocketError(sock);
  }

  /**
   * Attempt `gen` ended before it had a socket: it counts as a failed
   * attempt. `code` is TOKEN_ERROR when getToken failed it.
   */
  private connectFailed(gen: number, err: unknown, cause: CloseCause = 'error', code: 'SOCKET_ERROR' | 'TOKEN_ERROR' = 'SOCKET_ERROR'): void {
    if (gen !== this.gen || this.manualClose || this.destroyed) return;
    this.clearTimer('connectTimer');
    this.connectPhase = null;
    this.dropBoundWaiting();
    const message = err instanceof Error ? err.message : String(err);
    const what = code === 'TOKEN_ERROR' ? 'cannot get a token' : 'cannot connect';
    this.emitter.emit('error', new RealtimeError({ code, message: `${what}: ${message}`, cause: err }));
    this.emitter.emit('close', { code: 1006, reason: message, wasClean: false, willReconnect: this.willReconnect(), cause });
    this.scheduleReconnect(cause);
  }

  private handleOpen(sock: WebSocketLike): void {
    if (sock !== this.socket) return;
    this.clearTimer('connectTimer');
    // Requests held through a planned reconnect now belong to this
    // connection; they keep their hold until it is ready, and so do those
    // made before then.
    this.plannedOpen = this.plannedGap;
    this.plannedGap = false;
    const reconnected = this.everOpened;
    this.everOpened = true;
    this.ready = false;
    this.clockMeasured = false;
    // A token kept from an earlier attempt is no fresher than this
    // connection's: the next connect, or the refresh, fetches its own.
    this.nextToken = null;
    this.tokens = this.opts.rateLimit === false ? 0 : this.opts.rateLimit.burst;
    this.tokensAt = this.opts.clock.now();
    this.log('open', reconnected ? '(reconnected)' : '');
    this.setState('open');
    this.emitter.emit('open', { reconnected });
    if (sock !== this.socket) return; // a listener closed it
    const gen = this.gen;

    this.scheduleHeartbeat();
    if (this.tokenExp !== null && this.clockOffset !== null && this.tokenExp <= this.serverNow()) {
      // The server took a token the offset calls expired: the offset is
      // stale (the browser clock was corrected since it was measured).
      // This client's clock stands in until this connection reports the
      // server's.
      this.log('the server clock offset is stale: measuring it again');
      this.clockOffset = null;
    }
    this.scheduleTokenRefresh();
    if (this.stableTimer === null) {
      this.stableTimer = this.opts.clock.setTimeout(() => {
        this.stableTimer = null;
        this.backoffStep = 0;
      }, STABLE_CONNECTION_MS);
    }
    if (!this.opts.hello) {
      // The connection works: the attempts that failed before it are over.
      this.attempts = 0;
    }
    if (this.opts.maxConnectionAge > 0) {
      this.ageTimer = this.opts.clock.setTimeout(() => {
        this.ageTimer = null;
        this.plannedReconnect('max-age', 'max connection age');
      }, this.opts.maxConnectionAge);
    }
    if (this.opts.hello) {
      const sentAt = this.opts.clock.now();
      this.internalRequest('hello', undefined, 'rate-limited', 1).then(
        (ack) => {
          if (gen !== this.gen || !isRecord(ack)) return;
          const receivedAt = this.opts.clock.now();
          // More precise than the frame's timestamp (taken at receipt): the
          // server read its clock within this round trip.
          const serverTime = ack['serverTime'];
          if (typeof serverTime === 'string') this.measureClock(Date.parse(serverTime), sentAt, receivedAt);
          // The connection works: the attempts that failed before it are
          // over, however soon it closes (the backoff still grows then).
          this.attempts = 0;
          this._session = ack as unknown as HelloAck;
          this.setLatency(receivedAt - sentAt);
          this.emitter.emit('hello', this._session);
          this.update();
        },
        (err: RealtimeError) => {
          if (err.code !== 'DISCONNECTED' && gen === this.gen) this.emitter.emit('error', err);
        },
      );
    }
    const pending: Promise<void>[] = [];
    for (const [channel, entry] of this.channels) {
      // One an `open` listener subscribed is in flight already: wait for it.
      if (entry.inflightGen === gen) pending.push(this.channelOps.get(channel)?.then(noop) ?? Promise.resolve());
      else pending.push(this.sendSubscribe(channel, entry));
    }
    const markReady = (): void => {
      if (gen !== this.gen || !this.socketOpen()) return;
      this.ready = true;
      this.plannedOpen = false;
      this.emitter.emit('ready', { reconnected });
      this.pump();
    };
    if (pending.length === 0) markReady();
    else void Promise.all(pending).then(markReady);
    this.update();
  }

  private handleData(sock: WebSocketLike, data: unknown): void {
    if (sock !== this.socket) return;
    if (typeof data !== 'string') {
      this.log('ignoring a binary frame');
      return;
    }
    this.log('<', data);
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      msg = undefined;
    }
    if (!isRecord(msg) || typeof msg['type'] !== 'string') {
      this.emitter.emit('error', new RealtimeError({ code: 'INVALID_MESSAGE', message: 'received a frame that is not a message', retryable: false }));
      return;
    }
    const m = msg as unknown as WebSocketMessage;
    if (!this.clockMeasured && typeof m.timestamp === 'string' && CLOCK_FRAME_TYPES.has(m.type)) {
      // The first reply of a connection dates the token until hello's
      // serverTime refines it (or for good, with hello off). Not an update
      // or event: its timestamp is when it was published or announced, and
      // a resend, or a fan-out that lagged, can be minutes old.
      const now = this.opts.clock.now();
      this.measureClock(Date.parse(m.timestamp), now, now);
    }
    if (typeof m.replyTo === 'string' && this.settleReply(m)) {
      this.checkDrained();
      return;
    }
    if (m.type === 'error') this.emitter.emit('error', RealtimeError.fromPayload(m.payload, m.replyTo));
    if (
      m.type === 'update' &&
      m.replyTo === undefined &&
      typeof m.channel === 'string' &&
      typeof m.offset === 'number' &&
      typeof m.epoch === 'string' &&
      this.liveUpdate(m as WebSocketMessage & { channel: string; offset: number; epoch: string })
    ) {
      return;
    }
    this.emitter.emit('message', m);
  }

  /** Settles the request `m` replies to; false when it is not one of ours. */
  private settleReply(m: WebSocketMessage): boolean {
    const replyTo = m.replyTo as string;
    const e = this.inflight.get(replyTo);
    if (e === undefined) return false;
    this.inflight.delete(replyTo);
    this.clearEntryTimer(e);
    if (m.type !== 'error') {
      e.resolve(m.payload ?? {});
      this.update();
      return true;
    }
    const err = RealtimeError.fromPayload(m.payload, e.messageId);
    if (err.code === 'UNAUTHORIZED' && err.details?.['reason'] === 'TOKEN_EXPIRED') {
      // The server refused the frame, changing nothing: send it again on a
      // connection with a fresh token (the connection's own requests are
      // made again there). A `queue: false` one is held for that connection
      // like the ones made during the planned reconnect, at most its timeout.
      this.log('token expired: reconnecting with a new token');
      if (e.bound && !e.hold) {
        e.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'the connection is being replaced (token expired)', messageId: e.messageId }));
      } else if (e.bound) insertBySeq(this.resend, e);
      else this.keepForResend(e);
      this.dropConnection('token-expired', 4001, 'token expired');
      this.update();
      return true;
    }
    // The connection's subscriptions and history reads wait out RATE_LIMITED
    // for as long as the connection lasts: giving up would drop the channel.
    const waitOut = e.internal && e.retry === 'retryable' && err.code === 'RATE_LIMITED';
    const retryable =
      (waitOut || e.retriesLeft > 0) &&
      (err.code === 'RATE_LIMITED' || (e.retry === 'retryable' && err.retryable && err.code !== 'LOCK_HELD'));
    if (e.retry !== 'none' && retryable) {
      this.retryLater(e, err, !waitOut);
    } else {
      e.reject(err);
      if (err.code === 'UNAUTHORIZED') {
        // The server lost this connection's record: a new connection fixes it.
        this.dropConnection('unauthorized', 4001, 'connection not registered');
      }
    }
    this.update();
    return true;
  }

  /**
   * Sends `e` again with the same messageId after the server's retryAfterMs
   * (or a backoff delay); `counted` takes the attempt off its retries.
   */
  private retryLater(e: Outbound, err: RealtimeError, counted: boolean): void {
    if (counted) e.retriesLeft--;
    const hinted = err.details?.['retryAfterMs'];
    const base =
      typeof hinted === 'number' && hinted >= 0 && Number.isFinite(hinted)
        ? Math.min(hinted, MAX_RETRY_AFTER)
        : backoffDelay(e.retryAttempt, { ...this.opts, maxReconnectInterval: Math.min(this.opts.maxReconnectInterval, 5000) }, this.opts.random);
    e.retryAttempt++;
    // A little jitter on top, so that a burst of refused requests does not return as one burst.
    const delay = Math.ceil(base + 50 * this.opts.random());
    this.log('retrying', e.type, e.messageId, 'after', delay, 'ms:', err.code);
    const drops = this.drops;
    const timer = this.opts.clock.setTimeout(() => {
      this.delayed.delete(e);
      // A `queue: false` request whose connections since the refusal (which
      // changed nothing) ended only by plan goes on: sent now, or held for
      // a connection that is not ready yet.
      const planned = e.bound && e.hold && drops === this.drops && !this.manualClose && !this.destroyed;
      if ((e.internal || (e.bound && !planned)) && (e.gen !== this.gen || !this.socketOpen())) {
        e.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'the connection dropped', messageId: e.messageId }));
        return;
      }
      if (e.internal) {
        this.writeInternal(e);
        return;
      }
      insertBySeq(this.resend, e);
      if (e.bound && (!this.socketOpen() || this.draining !== null || (this.plannedOpen && !this.ready))) this.holdForNext(e);
      this.pump();
      this.update();
    }, delay);
    this.delayed.set(e, timer);
  }

  private handleClose(sock: WebSocketLike, ev: { code: number; reason: string; wasClean: boolean }): void {
    if (sock !== this.socket) return;
    this.log('closed by peer', ev.code, ev.reason);
    this.teardown();
    this.emitter.emit('close', {
      code: ev.code,
      reason: ev.reason,
      wasClean: ev.wasClean,
      willReconnect: this.willReconnect(),
      cause: 'server',
    });
    this.scheduleReconnect('server');
  }

  private handleSocketError(sock: WebSocketLike): void {
    if (sock !== this.socket) return;
    // A close event follows; reconnecting is decided there.
    this.emitter.emit('error', new RealtimeError({ code: 'SOCKET_ERROR', message: 'WebSocket error' }));
  }

  /**
   * A reconnect on the client's own plan (max-age, token refresh): writes
   * no new request on this connection (they wait in the queue; the
   * `queue: false` ones at most their timeout, see holdForNext), waits for
   * the replies to the requests in flight, at most requestTimeout (and at
   * most half the time the token has left), then closes and reconnects. A
   * request answered meanwhile is settled by its reply instead of being
   * sent again, or rejected as one the server does not deduplicate.
   */
  private plannedReconnect(cause: 'max-age' | 'token-refresh', reason: string): void {
    if (this.draining !== null || this.socket === null) return;
    this.log('planned reconnect: waiting for the replies in flight');
    this.draining = { cause, reason };
    this.holdBoundWaiting();
    let wait = Math.min(this.opts.requestTimeout > 0 ? this.opts.requestTimeout : DEFAULTS.requestTimeout, MAX_DRAIN);
    const left = this.tokenLeft();
    if (left !== null) wait = Math.min(wait, Math.max(0, left / 2));
    this.drainTimer = this.opts.clock.setTimeout(() => {
      this.drainTimer = null;
      this.finishDrain();
    }, wait);
    this.checkDrained();
  }

  /** Ends a planned reconnect's wait once no application request is in flight. */
  private checkDrained(): void {
    if (this.draining === null) return;
    for (const e of this.inflight.values()) if (!e.internal) return;
    this.finishDrain();
  }

  private finishDrain(): void {
    const d = this.draining;
    if (d === null) return;
    this.dropConnection(d.cause, 1000, d.reason);
  }

  /** Whether `e`, in flight when its connection dropped, is sent again on the next one (see RESENT_REQUEST_TYPES). */
  private resentAfterDrop(e: Outbound): boolean {
    if (e.bound) return false; // it belongs to the connection that dropped
    if (e.internal || RESENT_REQUEST_TYPES.has(e.type)) return true;
    if (e.type !== 'publish' || e.channel === undefined) return false;
    // The subscription of a channel with history reported its stream position.
    return (this.channels.get(e.channel)?.stream.position ?? null) !== null;
  }

  /** Closes the current socket on the client's initiative and reconnects. */
  private dropConnection(cause: CloseCause, code: number, reason: string): void {
    const sock = this.socket;
    if (sock === null) return;
    this.log('closing:', reason);
    const planned =
      (cause === 'max-age' || cause === 'token-refresh' || cause === 'token-expired') && this.opts.reconnect && !this.manualClose;
    this.teardown(planned);
    safeClose(sock, code, reason);
    this.emitter.emit('close', { code, reason, wasClean: false, willReconnect: planned || this.willReconnect(), cause });
    if (planned) {
      // A planned reconnect is not a failure: no backoff. `queue: false`
      // requests made until the next connection opens wait for it.
      this.plannedGap = true;
      this.setState('reconnecting');
      this.emitter.emit('reconnect-scheduled', { attempt: 0, delay: 0, cause });
      this.openSocket();
      return;
    }
    this.scheduleReconnect(cause);
  }

  /**
   * Forgets the socket; requests in flight on it wait to be resent. The
   * `queue: false` requests not sent yet are rejected, or with `planned`
   * held for the next connection.
   */
  private teardown(planned = false): void {
    const sock = this.socket;
    if (sock === null) return;
    // No-op handlers rather than null: some implementations raise an
    // unhandled error event when nobody listens.
    sock.onopen = noop;
    sock.onmessage = noop;
    sock.onclose = noop;
    sock.onerror = noop;
    this.socket = null;
    this.ready = false;
    this.plannedOpen = false;
    this.pingOutstanding = false;
    this.gen++;
    this.clearTimer('connectTimer');
    this.clearTimer('heartbeatTimer');
    this.clearTimer('ageTimer');
    // Connections replaced by plan count as one for the backoff.
    if (!planned) this.clearTimer('stableTimer');
    this.clearTimer('pumpTimer');
    this.clearTimer('tokenTimer');
    this.clearTimer('drainTimer');
    this.draining = null;
    // Requests bound to this connection that still wait for a pacing token
    // end with it.
    for (const e of this.paced.splice(0)) {
      e.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'the connection dropped', messageId: e.messageId }));
    }
    if (planned) this.holdBoundWaiting();
    else this.dropBoundWaiting();
    const inflight = [...this.inflight.values()];
    this.inflight.clear();
    for (const e of inflight) {
      this.clearEntryTimer(e);
      if (this.resentAfterDrop(e)) {
        this.keepForResend(e); // the internal ones reject with DISCONNECTED there
        continue;
      }
      const why = e.bound ? 'sent with queue: false' : 'which the server does not deduplicate';
      e.reject(
        new RealtimeError({
          code: 'DISCONNECTED',
          message: `the connection dropped before the reply to ${e.type}, ${why}: it may have been applied; send it again if it was not`,
          messageId: e.messageId,
          details: { inFlight: true },
        }),
      );
    }
    this.update();
  }

  /**
   * Rejects the `queue: false` requests waiting to be sent: they belong to
   * the connection that ended, or were held for one that is not coming by
   * plan. Later ones fail at once again. With `only`, just the ones it
   * selects, and a planned reconnect stays under way.
   */
  private dropBoundWaiting(only?: (e: Outbound) => boolean): void {
    if (only === undefined) {
      this.plannedGap = false;
      this.drops++;
    }
    for (const list of [this.queue, this.resend]) {
      for (let i = list.length - 1; i >= 0; i--) {
        const e = list[i] as Outbound;
        if (!e.bound || (only !== undefined && !only(e))) continue;
        list.splice(i, 1);
        this.clearEntryTimer(e);
        e.reject(new RealtimeError({ code: 'DISCONNECTED', message: 'the connection dropped', messageId: e.messageId }));
      }
    }
  }

  private willReconnect(): boolean {
    return this.opts.reconnect && !this.manualClose && !this.destroyed && this.attempts < this.opts.maxReconnectAttempts;
  }

  private scheduleReconnect(cause: CloseCause): void {
    // A drop or a failed attempt: connections did not stay up.
    this.clearTimer('stableTimer');
    if (this.manualClose || this.destroyed) {
      this.setState('closed');
      return;
    }
    if (!this.opts.reconnect) {
      this.setState('closed');
      return;
    }
    if (this.attempts >= this.opts.maxReconnectAttempts) {
      this.log('giving up after', this.attempts, 'attempts');
      this.setState('closed');
      this.emitter.emit('reconnect-failed', { attempts: this.attempts });
      return;
    }
    const delay = backoffDelay(this.backoffStep, this.opts, this.opts.random);
    this.backoffStep++;
    this.attempts++;
    this.setState('reconnecting');
    this.log('reconnect attempt', this.attempts, 'in', Math.round(delay), 'ms');
    this.emitter.emit('reconnect-scheduled', { attempt: this.attempts, delay, cause });
    this.clearTimer('reconnectTimer');
    this.reconnectTimer = this.opts.clock.setTimeout(() => {
      this.reconnectTimer = null;
      this.openSocket();
    }, delay);
    this.update();
  }

  // ---- internals: heartbeat ----

  private scheduleHeartbeat(): void {
    if (this.opts.heartbeatInterval <= 0) return;
    this.heartbeatTimer = this.opts.clock.setTimeout(() => {
      this.heartbeatTimer = null;
      this.ping();
      this.scheduleHeartbeat();
    }, this.opts.heartbeatInterval);
  }

  private ping(): void {
    if (this.pingOutstanding || !this.socketOpen()) return;
    this.pingOutstanding = true;
    const gen = this.gen;
    const sentAt = this.opts.clock.now();
    const timeout = this.opts.pongTimeout > 0 ? this.opts.pongTimeout : 2 * this.opts.heartbeatInterval;
    this.internalRequest('ping', undefined, 'none', 0, timeout).then(
      () => {
        if (gen !== this.gen) return;
        this.pingOutstanding = false;
        this.setLatency(this.opts.clock.now() - sentAt);
      },
      (err: RealtimeError) => {
        if (gen !== this.gen) return;
        this.pingOutstanding = false;
        if (err.code === 'TIMEOUT') {
          this.log('no pong within', timeout, 'ms: the connection is dead');
          this.dropConnection('heartbeat-timeout', 4000, 'heartbeat timeout');
        }
        // An error reply (say RATE_LIMITED) still proves the connection alive.
      },
    );
  }

  private setLatency(ms: number): void {
    this._latency = ms;
    this.emitter.emit('latency', ms);
    this.update();
  }

  // ---- internals: helpers ----

  private setState(next: ConnectionState): void {
    const previous = this._state;
    if (previous === next) return;
    this._state = next;
    if (next === 'open') this.lastOpenedAt = new Date(this.opts.clock.now());
    else if (previous === 'open') this.lastClosedAt = new Date(this.opts.clock.now());
    this.log('state', previous, '->', next);
    this.emitter.emit('statechange', { state: next, previous });
    this.update();
  }

  private buildSnapshot(): ClientSnapshot {
    let pending = 0;
    for (const e of this.inflight.values()) if (!e.internal) pending++;
    let delayed = 0;
    for (const e of this.delayed.keys()) if (!e.internal) delayed++;
    return {
      state: this._state,
      latency: this._latency,
      queuedMessages: this.queue.length + this.resend.length + delayed,
      pendingRequests: pending,
      subscriptions: [...this.channels.keys()],
      session: this._session,
      reconnectAttempts: this.attempts,
      lastOpenedAt: this.lastOpenedAt,
      lastClosedAt: this.lastClosedAt,
    };
  }

  /** Rebuilds the snapshot and emits `snapshot` when a field changed. */
  private update(): void {
    const next = this.buildSnapshot();
    const prev = this.snap;
    if (
      prev.state === next.state &&
      prev.latency === next.latency &&
      prev.queuedMessages === next.queuedMessages &&
      prev.pendingRequests === next.pendingRequests &&
      prev.session === next.session &&
      prev.reconnectAttempts === next.reconnectAttempts &&
      prev.lastOpenedAt === next.lastOpenedAt &&
      prev.lastClosedAt === next.lastClosedAt &&
      sameList(prev.subscriptions, next.subscriptions)
    ) {
      return;
    }
    this.snap = next;
    this.emitter.emit('snapshot', next);
  }

  private clearTimer(
    name: 'reconnectTimer' | 'connectTimer' | 'heartbeatTimer' | 'ageTimer' | 'stableTimer' | 'pumpTimer' | 'tokenTimer' | 'drainTimer',
  ): void {
    const t = this[name];
    if (t !== null) {
      this.opts.clock.clearTimeout(t);
      this[name] = null;
    }
  }

  private clearEntryTimer(e: Outbound): void {
    if (e.timer !== null) {
      this.opts.clock.clearTimeout(e.timer);
      e.timer = null;
    }
  }

  private log(...args: unknown[]): void {
    if (this.opts.debug) console.debug('[rtcollab]', ...args);
  }
}

/** `url` with `token` as its `token` query parameter (replacing any). */
function withToken(url: string, token: string): string {
  return withQuery(url, [['token', token]]);
}

/** `url` with each of `set` as a query parameter (replacing any of the same name), without its fragment. */
function withQuery(url: string, set: Iterable<[string, string]>): string {
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  const q = base.indexOf('?');
  const path = q >= 0 ? base.slice(0, q) : base;
  const params = new URLSearchParams(q >= 0 ? base.slice(q + 1) : '');
  for (const [name, value] of set) params.set(name, value);
  return `${path}?${params.toString()}`;
}

/** A numeric claim of a JWT, read without verifying it (the server verifies); null when absent. */
function numericClaim(token: string, name: string): number | null {
  const part = token.split('.')[1];
  if (part === undefined || part === '') return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const claims: unknown = JSON.parse(atob(b64));
    const v = isRecord(claims) ? claims[name] : undefined;
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** The `exp` of a JWT in ms since the epoch; null when the token is not a JWT with a numeric exp. */
export function tokenExpiry(token: string): number | null {
  const exp = numericClaim(token, 'exp');
  return exp === null ? null : exp * 1000;
}

function insertBySeq(list: Outbound[], e: Outbound): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as Outbound).seq > e.seq) i--;
  list.splice(i, 0, e);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function safeClose(sock: WebSocketLike, code: number, reason: string): void {
  try {
    sock.close(code, reason);
  } catch {
    // closing an already closed or still connecting socket may throw; nothing to do
  }
}

/** Creates a new client. */
export function createWebSocketClient(options: WebSocketClientOptions): WebSocketClient {
  return new WebSocketClient(options);
}

let singleton: WebSocketClient | null = null;

/**
 * The shared client of the page. The first call creates it from `options`
 * (and must pass them); later calls return it and ignore `options`.
 */
export function getWebSocketClient(options?: WebSocketClientOptions): WebSocketClient {
  if (singleton === null) {
    if (options === undefined) throw new Error('getWebSocketClient: the first call must pass options');
    singleton = new WebSocketClient(options);
  }
  return singleton;
}

/** Destroys the shared client, so that the next getWebSocketClient creates a new one. */
export function resetWebSocketClient(): void {
  const s = singleton;
  singleton = null;
  s?.destroy();
}

// RFC 7230 token characters: what a subprotocol name may contain.
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The URL and subprotocols of a handshake: with the `subprotocol` transport,
 * the URL's `token` query parameter moves into the subprotocols as
 * `bearer.<token>`, after the real ones (DEFAULT_PROTOCOL when none is
 * given). Throws for a token longer than MAX_TOKEN_BYTES.
 */
export function handshakeTarget(
  url: string,
  protocols: string | string[] | undefined,
  transport: TokenTransport,
): { url: string; protocols: string[] | undefined } {
  const offered = protocols === undefined ? undefined : typeof protocols === 'string' ? [protocols] : [...protocols];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, protocols: offered };
  }
  const token = parsed.searchParams.get('token');
  if (token === null || token === '') return { url, protocols: offered };
  if (utf8Length(token) > MAX_TOKEN_BYTES) {
    throw new Error(`token of ${utf8Length(token)} bytes exceeds ${MAX_TOKEN_BYTES}`);
  }
  if (transport === 'query' || !TOKEN_CHARS.test(token)) return { url, protocols: offered };
  parsed.searchParams.delete('token');
  const real = (offered ?? [DEFAULT_PROTOCOL]).filter((p) => !p.startsWith(TOKEN_PROTOCOL_PREFIX));
  return { url: parsed.toString(), protocols: [...(real.length > 0 ? real : [DEFAULT_PROTOCOL]), TOKEN_PROTOCOL_PREFIX + token] };
}
