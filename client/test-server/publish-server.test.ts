// @vitest-environment node
/// <reference types="node" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PublishClient, PublishError } from '../src/server/index.js';
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
});
