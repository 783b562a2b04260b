// @vitest-environment node
/// <reference types="node" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import WebSocket from 'ws';
import { MAX_FRAME_BYTES, PublishClient, PublishError, type PublishResult } from '../src/server/index.js';
import { startLocalServer, type LocalServer } from './server.js';

// The server entry against the real local server binary: its signed
// publish API (the documented local credentials) and real WebSocket
// subscribers.
const local = { accessKeyId: 'local', secretAccessKey: 'local' };

interface Frame {
  type: string;
  channel?: string;
  payload?: unknown;
}

/** A WebSocket subscriber with a queue of the frames it received. */
class Subscriber {
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(String(data)) as Frame);
      this.waiter?.();
    });
  }

  static async open(server: LocalServer, tenant: string, user: string, channel: string): Promise<Subscriber> {
    const ws = new WebSocket(`${server.wsUrl}?userId=${user}&tenant=${tenant}`);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    const s = new Subscriber(ws);
    ws.send(JSON.stringify({ type: 'subscribe', messageId: 'sub-1', channel }));
    expect((await s.next()).type).toBe('ack');
    return s;
  }

  async next(timeoutMs = 5000): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (Date.now() > end) throw new Error('no frame within 5 s');
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 50);
      });
    }
    return this.frames.shift() as Frame;
  }

  close(): void {
    this.ws.close();
  }
}

/** Publishes a fresh marker and checks that it is each subscriber's next frame. */
async function marker(client: PublishClient, subs: Subscriber[]): Promise<void> {
  const payload = { marker: `${Date.now()}-${Math.random()}` };
  await client.publish({ tenant: 'acme', channel: 'order-updates', payload });
  for (const s of subs) expect(await s.next()).toMatchObject({ type: 'update', channel: 'order-updates', payload });
}

/** POSTs `body` to the API signed, as the client would, whatever its size. */
async function signedPost(api: string, path: string, body: string): Promise<Response> {
  const url = new URL(api + path);
  const signer = new SignatureV4({ service: 'execute-api', region: 'us-east-1', sha256: Sha256, credentials: local });
  const req = { method: 'POST', protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {}, body };
  const signed = await signer.sign({ ...req, headers: { host: url.host, 'content-type': 'application/json' } });
  const headers = Object.fromEntries(Object.entries(signed.headers).filter(([k]) => k !== 'host'));
  return fetch(url, { method: 'POST', headers, body });
}

describe('@omnisales/rtcollab-client/server', () => {
  let server: LocalServer;
  let api: string;
  const subs: Subscriber[] = [];

  beforeAll(async () => {
    server = await startLocalServer();
    api = `http://127.0.0.1:${server.port}/api`;
  });
  afterAll(async () => {
    for (const s of subs) s.close();
    await server.stop();
  });

  it('publishes through the signed endpoint; subscribers receive the frame exactly once, a retry included', async () => {
    const a = await Subscriber.open(server, 'acme', 'alice', 'order-updates');
    const b = await Subscriber.open(server, 'acme', 'bob', 'order-updates');
    subs.push(a, b);
    const client = new PublishClient({ endpoint: api, credentials: local });
    const m = { tenant: 'acme', channel: 'order-updates', payload: { orderId: 'SO-7', status: 'packed' }, idempotencyKey: 'SO-7#v2' };
    const first = await client.publish(m);
    expect(first).toMatchObject({ channel: 'order-updates', recipients: 2, delivered: 2 });
    expect(first.duplicate).toBeUndefined();
    const again = await client.publish(m);
    expect(again).toMatchObject({ duplicate: true, recipients: 2 });
    for (const s of [a, b]) expect(await s.next()).toMatchObject({ type: 'update', channel: 'order-updates', payload: m.payload });
    await marker(client, [a, b]);
  });

  it('refuses unsigned and wrongly signed calls and a channel the policy forbids, sending nothing', async () => {
    const a = await Subscriber.open(server, 'acme', 'carol', 'order-updates');
    subs.push(a);
    const unsigned = await fetch(`${api}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'acme', channel: 'order-updates', payload: 1 }),
    });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');

    const wrong = new PublishClient({ endpoint: api, credentials: { accessKeyId: 'local', secretAccessKey: 'wrong' } });
    const refused = await wrong.publish({ tenant: 'acme', channel: 'order-updates', payload: 1 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PublishError);
    expect(refused).toMatchObject({ status: 403, code: 'NOT_AUTHORIZED', type: 'InvalidSignatureException', retryable: false });

    const client = new PublishClient({ endpoint: api, credentials: async () => local });
    const forbidden = await client.publish({ tenant: 'acme', channel: 'payroll', payload: 1 }).catch((e: unknown) => e);
    expect(forbidden).toMatchObject({ status: 403, code: 'FORBIDDEN', retryable: false });
    await marker(client, [a]);
  });

  it('notifies and reads presence', async () => {
    const client = new PublishClient({ endpoint: api, credentials: local });
    const n = await client.notify({ tenant: 'acme', title: 'Stock low', level: 'warning' });
    expect(n.id).toMatch(/^ntf-/);
    const snap = await client.presenceSnapshot({ tenant: 'acme' });
    expect(snap.usersInRoom.map((u) => u.userId).sort()).toEqual(['alice', 'bob', 'carol']);
  });

  it('refuses unsent exactly the publishes and notifications whose frame the API refuses for its size', async () => {
    const a = await Subscriber.open(server, 'acme', 'dave', 'order-updates');
    subs.push(a);
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const client = new PublishClient({ endpoint: api, credentials: local, fetch: counting });
    /**
     * Sends the call `make` builds whose frame is one byte over the bound, then the one whose
     * frame is exactly the bound, and returns the answer to that. `frame` is the frame written
     * out as the API builds it, with the two fill strings empty (a string may be at most 16 KB).
     */
    async function straddle<M>(path: string, frame: string, make: (x: string, y: string) => M, send: (m: M) => Promise<PublishResult>): Promise<unknown> {
      const fill = (n: number) => {
        const k = n - new TextEncoder().encode(frame).length;
        return make('x'.repeat(k >> 1), 'x'.repeat(k - (k >> 1)));
      };
      calls = 0;
      const over = fill(MAX_FRAME_BYTES + 1);
      expect(await send(over).catch((e: unknown) => e), path).toMatchObject({ status: 0, code: 'FRAME_TOO_LARGE', retryable: false });
      expect(calls, path).toBe(0);
      const raw = await signedPost(api, path, JSON.stringify(over));
      expect([path, raw.status, ((await raw.json()) as { code?: string }).code]).toEqual([path, 413, 'FRAME_TOO_LARGE']);
      const got = await send(fill(MAX_FRAME_BYTES)).catch((e: unknown) => e);
      expect(calls, path).toBe(1);
      return got;
    }
    // A publish's payload is in the frame as sent: U+2028 raw, a lone surrogate as
    // JSON.stringify escapes it, markup as it is.
    const odd = '\u2028\ud800\u0001é<&>';
    const frame = `{"type":"publish","messageId":"fit-1","channel":"order-updates","payload":["\u2028\\ud800\\u0001é<&>","",""]}`;
    const published = await straddle('/publish', frame, (x, y) => ({ tenant: 'acme', channel: 'order-updates', payload: [odd, x, y], idempotencyKey: 'fit-1' }), (m) => client.publish(m));
    expect(published).toMatchObject({ channel: 'order-updates' });
    const update = await a.next();
    expect(update.type).toBe('update');
    expect((update.payload as string[])[0]).toBe(odd);
    // A notification's strings are written again by the API: U+2028 escaped, a lone surrogate
    // as U+FFFD; its fields in key order. Within the bound, the handler refuses its data as
    // over 8 KB: past the size check.
    const notice = `{"type":"notify","messageId":"fit-2","payload":{"body":"","data":["",""],"level":"warning","title":"\\u2028\ufffd\\u0001é<&>","userId":""}}`;
    const notified = await straddle('/notify', notice, (x, y) => ({ tenant: 'acme', title: odd, level: 'warning' as const, data: [x, y], idempotencyKey: 'fit-2' }), (n) => client.notify(n));
    expect(notified).toMatchObject({ status: 400, code: 'BAD_REQUEST', message: expect.stringContaining('data is at most') });
  });
});
