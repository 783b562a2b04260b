/**
 * `@omnisales/rtcollab-client/server`: publish to rtcollab from a Node.js
 * backend service, without a WebSocket. A client of the publish API
 * (POST /publish, /notify and /presence/snapshot of the stack's HTTP API,
 * which requires AWS_IAM authorization, or of the local server's /api).
 * Every request is signed with Signature Version 4 (service execute-api)
 * by the AWS SDK for JavaScript's signer (`@smithy/signature-v4` with
 * `@aws-crypto/sha256-js`, optional peer dependencies of this package:
 * install them next to it), and retried with jittered backoff on
 * connection errors, 5xx, the retryable codes and a pending duplicate.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

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
  /** The API's region. Default "us-east-1". */
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
  /** Makes retries of this publish broadcast once (for a day). Default: a fresh key per call. */
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
 * IAM identity (then `type` is its x-amzn-ErrorType).
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
      region: options.region ?? 'us-east-1',
      sha256: Sha256,
      credentials: typeof creds === 'function' ? creds : async () => creds,
    });
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Publishes `m`. */
  publish(m: PublishMessage): Promise<PublishResult> {
    return this.call<PublishResult>('/publish', { ...m, idempotencyKey: m.idempotencyKey ?? newKey() });
  }

  /** Sends the notification `n`. */
  notify(n: NotifyMessage): Promise<PublishResult> {
    return this.call<PublishResult>('/notify', { ...n, idempotencyKey: n.idempotencyKey ?? newKey() });
  }

  /** Reads one page of presence; it changes nothing. */
  presenceSnapshot(q: SnapshotQuery): Promise<PresenceSnapshot> {
    return this.call<PresenceSnapshot>('/presence/snapshot', { ...q });
  }

  private async call<T>(path: string, body: Record<string, unknown>): Promise<T> {
    const payload = JSON.stringify(body);
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

/** The code of an answer of API Gateway's own, which carries none. */
function codeOfStatus(status: number): string {
  if (status === 401 || status === 403) return 'NOT_AUTHORIZED';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 413) return 'FRAME_TOO_LARGE';
  if (status >= 500) return 'UNAVAILABLE';
  return 'BAD_REQUEST';
}

function newKey(): string {
  return `rtp-${globalThis.crypto.randomUUID()}`;
}
