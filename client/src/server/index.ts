/**
 * `@omnisales/rtcollab-client/server`: publish to rtcollab from a Node.js
 * backend service, without a WebSocket. A client of the publish API
 * (POST /publish, /notify and /presence/snapshot of the stack's HTTP API,
 * which requires AWS_IAM authorization, or of the local server's /api).
 * Every request is signed with Signature Version 4 (service execute-api)
 * by the AWS SDK for JavaScript's signer (`@smithy/signature-v4` with
 * `@aws-crypto/sha256-js`, optional peer dependencies of this package:
 * install them next to it), and retried with jittered backoff on
 * connection errors, 5xx, the retryable codes and a pending duplicate. A
 * publish or notify whose frame would be over MAX_FRAME_BYTES is refused
 * before it is sent.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { utf8Length } from '../ids.js';

/**
 * The largest frame the publish API runs (32 KB, 32768 bytes), as a WebSocket client's: a
 * publish or notify becomes a frame of its type, idempotency key (as messageId), channel and
 * payload, compact, counted in UTF-8 bytes; the tenant is not part of it. `publish` and `notify`
 * refuse a call whose frame would be larger without sending it: a `PublishError`
 * `FRAME_TOO_LARGE` with status 0, not retryable.
 */
export const MAX_FRAME_BYTES = 32 * 1024;

/** The largest body the API reads (4 MiB); a larger one is refused unsent, as a frame over MAX_FRAME_BYTES is. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** AWS credentials, as the AWS SDK's credential providers resolve them. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options of a PublishClient. */
export interface PublishClientOptions {
  /** The API's base URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com or http://127.0.0.1:3001/api. */
  endpoint: string;
  /** Credentials, or a provider such as the AWS SDK's `fromNodeProviderChain()`. */
  credentials: Credentials | (() => Promise<Credentials>);
  /**
   * The API's region, which the signature is scoped to (API Gateway refuses another with 403,
   * NOT_AUTHORIZED). Default: the region of an execute-api endpoint ("eu-west-1" in
   * https://abc123.execute-api.eu-west-1.amazonaws.com), else "us-east-1" (the local server's
   * default; it takes AWS_REGION).
   */
  region?: string;
  /** Attempts per call, the first included. Default 3. */
  maxAttempts?: number;
  /** The fetch to send with. Default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** A publish: `payload` reaches every subscriber of `channel` in `tenant` as an "update" frame. */
export interface PublishMessage {
  tenant: string;
  channel: string;
  payload?: unknown;
  /** Makes retries of this publish broadcast once (for a day). Default (also for an empty string): a fresh key per call. */
  idempotencyKey?: string;
}

/** A system notification to every subscriber of "notifications", or to every connection of `userId`. */
export interface NotifyMessage {
  tenant: string;
  userId?: string;
  title?: string;
  body?: string;
  level?: 'info' | 'success' | 'warning' | 'error';
  data?: unknown;
  /** As PublishMessage's: retries of this notification reach each recipient once. Default (also for an empty string): a fresh key per call. */
  idempotencyKey?: string;
}

/** The answer to a publish or notify. */
export interface PublishResult {
  channel?: string;
  /** The notification id (notify). */
  id?: string;
  /** Connections the frame was for. */
  recipients: number;
  /** Of them, posts that succeeded. */
  delivered: number;
  /** The key was used before: nothing was sent again; the counts are the first call's. */
  duplicate?: boolean;
  /**
   * The API's mark of a duplicate whose first call has not completed (it may still run, fail, or
   * have died): nothing is known to be sent. Never set in a result the client returns: it retries
   * such an answer as it does a 503, then rejects with a retryable `PublishError` UNAVAILABLE
   * (status 200). Call again later with the same `idempotencyKey`.
   */
  pending?: boolean;
}

/** A query for one page of a room's presence (the tenant's, without `room`). */
export interface SnapshotQuery {
  tenant: string;
  room?: string;
  cursor?: string;
  limit?: number;
}

/** One user of a presence snapshot. */
export interface SnapshotUser {
  userId: string;
  username: string;
  avatar?: string;
  status: string;
  lastSeen: string;
  activity?: string;
}

/** One page of presence. */
export interface PresenceSnapshot {
  room: string;
  usersInRoom: SnapshotUser[];
  userCount: number;
  onlineCount: number;
  awayCount: number;
  next?: string;
}

/**
 * A refused call. `code` is the server's stable code (FORBIDDEN,
 * BAD_REQUEST, INVALID_CHANNEL, IDEMPOTENCY_MISMATCH, ...), or
 * NOT_AUTHORIZED when API Gateway refused the signature or the caller's
 * IAM identity (then `type` is its x-amzn-ErrorType). `status` is 200 for
 * a pending duplicate and 0 for a call refused without being sent
 * (FRAME_TOO_LARGE).
 */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly type?: string,
  ) {
    super(message);
  }
}

const RETRYABLE_STATUS = (s: number) => s === 429 || s >= 500;

/**
 * The error of a 200 answer that is a pending duplicate: an earlier attempt holds the key's claim
 * and has not completed, so nothing is known to be sent. Retryable: the claim is released when
 * that attempt fails and lapses when it died.
 */
function pendingError(status: number, answer: Record<string, unknown>): PublishError | undefined {
  if (answer['duplicate'] !== true || answer['pending'] !== true) return undefined;
  return new PublishError(status, 'UNAVAILABLE', 'an earlier attempt with this key has not completed; retry later', true);
}

/** Calls the publish API. One instance serves any number of concurrent calls. */
export class PublishClient {
  private readonly url: URL;
  private readonly signer: SignatureV4;
  private readonly maxAttempts: number;
  private readonly fetch: typeof fetch;

  constructor(options: PublishClientOptions) {
    this.url = new URL(options.endpoint.replace(/\/+$/, ''));
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new TypeError(`endpoint ${JSON.stringify(options.endpoint)} is not an http(s) URL`);
    }
    const creds = options.credentials;
    this.signer = new SignatureV4({
      service: 'execute-api',
      region: options.region || executeApiRegion(this.url.hostname) || 'us-east-1',
      sha256: Sha256,
      credentials: typeof creds === 'function' ? creds : async () => creds,
    });
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * Publishes `m`. A publish whose frame would be over MAX_FRAME_BYTES is not sent: it rejects
   * with a `PublishError` `FRAME_TOO_LARGE`, status 0, not retryable.
   */
  publish(m: PublishMessage): Promise<PublishResult> {
    return this.call<PublishResult>('/publish', { ...m, idempotencyKey: m.idempotencyKey || newKey() }, publishFrame);
  }

  /** Sends the notification `n`. A notification whose frame would be over MAX_FRAME_BYTES is not sent, as in `publish`. */
  notify(n: NotifyMessage): Promise<PublishResult> {
    return this.call<PublishResult>('/notify', { ...n, idempotencyKey: n.idempotencyKey || newKey() }, notifyFrame);
  }

  /** Reads one page of presence; it changes nothing. */
  presenceSnapshot(q: SnapshotQuery): Promise<PresenceSnapshot> {
    return this.call<PresenceSnapshot>('/presence/snapshot', { ...q });
  }

  private async call<T>(path: string, body: Record<string, unknown>, frameOf?: (body: Record<string, unknown>) => string | undefined): Promise<T> {
    const payload = JSON.stringify(body);
    // In AWS a body past what a Lambda function can be invoked with (6 MB of event) never reaches
    // the API: API Gateway answers a 5xx, which would be retried as UNAVAILABLE. Refused here, the
    // caller learns at once that the call can never succeed.
    const frame = frameOf?.(body);
    const frameBytes = frame === undefined ? 0 : utf8Length(frame);
    if (frameBytes > MAX_FRAME_BYTES) throw tooLarge(`the frame would be ${frameBytes} bytes, over the ${MAX_FRAME_BYTES} the API runs`);
    const bodyBytes = utf8Length(payload);
    if (bodyBytes > MAX_BODY_BYTES) throw tooLarge(`the body would be ${bodyBytes} bytes, over the ${MAX_BODY_BYTES} the API reads`);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt<T>(path, payload);
      } catch (err) {
        const retryable = err instanceof PublishError ? err.retryable : err instanceof TypeError; // fetch's network errors
        if (!retryable || attempt >= this.maxAttempts) throw err;
        // Full jitter over an exponential base of 100 ms, capped at 5 s.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }

  private async attempt<T>(path: string, payload: string): Promise<T> {
    const url = new URL(this.url.href);
    url.pathname = url.pathname.replace(/\/$/, '') + path;
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: url.pathname,
      query: {},
      headers: { host: url.host, 'content-type': 'application/json' },
      body: payload,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers)) {
      if (k.toLowerCase() !== 'host') headers[k] = String(v);
    }
    const resp = await this.fetch(url, { method: 'POST', headers, body: payload });
    const text = await resp.text();
    let answer: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object') answer = parsed as Record<string, unknown>;
    } catch {
      // not JSON: described by the status below
    }
    if (resp.ok) {
      const pending = pendingError(resp.status, answer);
      if (pending) throw pending;
      return answer as T;
    }
    const type = resp.headers.get('x-amzn-errortype') ?? undefined;
    const code = typeof answer['code'] === 'string' ? answer['code'] : codeOfStatus(resp.status);
    const message = typeof answer['message'] === 'string' ? answer['message'] : resp.statusText;
    const retryable = typeof answer['retryable'] === 'boolean' ? answer['retryable'] : RETRYABLE_STATUS(resp.status);
    throw new PublishError(resp.status, code, message, retryable, type);
  }
}

/**
 * The region of an API Gateway host, `<api-id>.execute-api.<region>.amazonaws.com` (or another
 * suffix, such as a VPC endpoint's), or undefined for any other host (a custom domain, the local
 * server).
 */
function executeApiRegion(hostname: string): string | undefined {
  const labels = hostname.split('.');
  for (let i = 1; i + 2 < labels.length; i++) {
    if (labels[i] === 'execute-api' && labels[i + 1] !== '') return labels[i + 1];
  }
  return undefined;
}

/** The code of an answer of API Gateway's own, which carries none. */
function codeOfStatus(status: number): string {
  if (status === 401 || status === 403) return 'NOT_AUTHORIZED';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 413) return 'FRAME_TOO_LARGE';
  if (status >= 500) return 'UNAVAILABLE';
  return 'BAD_REQUEST';
}

/** The error of a call refused before it was sent for its size. */
function tooLarge(message: string): PublishError {
  return new PublishError(0, 'FRAME_TOO_LARGE', `${message}; not sent`, false);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A string field of the body as the API writes it again in the frame (Go's encoding/json,
 * without HTML escaping): as JSON.stringify does, but U+2028 and U+2029 escaped and a lone
 * surrogate (which JSON.stringify escapes, and the API decodes) as U+FFFD. Absent or null, the
 * empty string; undefined for another type, which the API refuses before it builds the frame.
 */
function apiString(v: unknown): string | undefined {
  const s = v ?? '';
  if (typeof s !== 'string') return undefined;
  return JSON.stringify(s.replace(LONE_SURROGATE, '\ufffd')).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** A JSON value of the body as the frame holds it: as sent (the API keeps it as written), null when absent. */
function apiValue(v: unknown): string {
  return JSON.stringify(v) ?? 'null';
}

/**
 * The messageId of the frame: the idempotency key, or, for an empty one, the id the API makes
 * up (svc- and 24 hex digits).
 */
function apiMessageId(key: unknown): string | undefined {
  return key === '' ? apiString(`svc-${'0'.repeat(24)}`) : apiString(key);
}

/** The frame the API builds of a publish body, undefined when a field has a type it refuses. */
function publishFrame(b: Record<string, unknown>): string | undefined {
  const id = apiMessageId(b['idempotencyKey']);
  const channel = apiString(b['channel']);
  if (id === undefined || channel === undefined) return undefined;
  return `{"type":"publish","messageId":${id}${channel === '""' ? '' : `,"channel":${channel}`},"payload":${apiValue(b['payload'])}}`;
}

/** The frame the API builds of a notify body, its payload's fields in key order. */
function notifyFrame(b: Record<string, unknown>): string | undefined {
  const id = apiMessageId(b['idempotencyKey']);
  const fields = ['body', 'level', 'title', 'userId'].map((k) => apiString(b[k]));
  if (id === undefined || fields.includes(undefined)) return undefined;
  const [body, level, title, userId] = fields as string[];
  return `{"type":"notify","messageId":${id},"payload":{"body":${body},"data":${apiValue(b['data'])},"level":${level},"title":${title},"userId":${userId}}}`;
}

function newKey(): string {
  return `rtp-${globalThis.crypto.randomUUID()}`;
}
