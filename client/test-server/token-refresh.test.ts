/// <reference types="node" />
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeSyncManager, createWebSocketClient, type WebSocketClient } from '../src/index.js';
import { startLocalServer, type LocalServer } from './server.js';

// The local server accepts HS256 tokens signed with this secret (JWT_SECRET)
// and sweeps every second, so that short-lived tokens expire within a test.
const SECRET = 'a-test-secret-of-at-least-32-bytes-for-hs256';

let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer({ env: { JWT_SECRET: SECRET }, args: ['-sweep', '1s'] });
});
afterAll(async () => {
  await server.stop();
});

/** Signs an HS256 token for `sub` that expires `lifetime` seconds from now. */
function mint(sub: string, lifetime: number): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const signed = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, name: sub, roles: ['member'], iat: now, exp: now + lifetime })}`;
  return `${signed}.${createHmac('sha256', SECRET).update(signed).digest('base64url')}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Frame {
  type: string;
  replyTo?: string;
  payload?: { code?: string; details?: { reason?: string } };
}

describe('token expiry against the local server', () => {
  it('refuses frames after exp and the sweeper closes the connection', async () => {
    const token = mint('erin', 2);
    const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;
    const ws = new WebSocket(`${server.wsUrl}?token=${token}`);
    const replies: { at: number; frame: Frame }[] = [];
    let closedAt = 0;
    const closed = new Promise<void>((r) =>
      ws.once('close', () => {
        closedAt = Date.now();
        r();
      }),
    );
    ws.on('message', (d: Buffer) => replies.push({ at: Date.now(), frame: JSON.parse(d.toString()) as Frame }));
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    // A ping every 100 ms until the server closes the connection (the
    // sweeper runs every second), at most 6 s after exp.
    const sentAt = new Map<string, number>();
    for (let i = 0; closedAt === 0 && Date.now() < exp + 6000; i++) {
      sentAt.set(`p${i}`, Date.now());
      ws.send(JSON.stringify({ type: 'ping', messageId: `p${i}` }));
      await Promise.race([closed, sleep(100)]);
    }
    expect(closedAt).toBeGreaterThan(0); // closed by the sweeper's DELETE @connections
    expect(closedAt).toBeGreaterThanOrEqual(exp - 50);
    const before = replies.filter((r) => (sentAt.get(r.frame.replyTo ?? '') ?? 0) < exp - 50);
    const after = replies.filter((r) => (sentAt.get(r.frame.replyTo ?? '') ?? 0) > exp + 50);
    expect(before.length).toBeGreaterThan(0);
    for (const r of before) expect(r.frame.type).toBe('pong');
    // Every frame sent after exp was refused (the sweeper may close the
    // connection before any is sent; the Go test TestTokenExpiryEnforced
    // always sends some).
    for (const r of after) {
      expect(r.frame.type).toBe('error');
      expect(r.frame.payload?.code).toBe('UNAUTHORIZED');
      expect(r.frame.payload?.details?.reason).toBe('TOKEN_EXPIRED');
    }
  });

  it('getToken refreshes before exp and the sync carries on with no change lost or applied twice', async () => {
    let minted = 0;
    const client: WebSocketClient = createWebSocketClient({
      url: server.wsUrl,
      WebSocketImpl: WebSocket,
      getToken: async () => {
        minted++;
        return mint('finn', 4); // refreshed at half its life, about every 2 s
      },
      reconnectInterval: 100,
      maxReconnectInterval: 500,
    });
    let opens = 0;
    client.on('open', () => opens++);
    const refusals: string[] = [];
    client.on('error', (e) => refusals.push(e.code));
    client.connect();
    const sync = new RealtimeSyncManager({ client });
    try {
      await sync.startSync('note', 'tok-1');
      const versions: number[] = [];
      const n = 14;
      for (let i = 1; i <= n; i++) {
        const ch = await sync.pushChange({ entityType: 'note', entityId: 'tok-1', operation: 'update', path: 'count', before: i - 1, after: i });
        versions.push(ch.version);
        await sleep(450);
      }
      expect(minted).toBeGreaterThanOrEqual(3);
      expect(opens).toBeGreaterThanOrEqual(3); // reconnected with fresh tokens while pushing
      expect(versions).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      const history = await sync.loadHistory('note', 'tok-1');
      expect(history.map((c) => c.version).sort((a, b) => a - b)).toEqual(versions);
      expect(new Set(history.map((c) => c.messageId)).size).toBe(n);
      const state = await sync.sync('note', 'tok-1');
      expect(state.version).toBe(n);
      expect(state.document).toEqual({ count: n });
      expect(refusals).toEqual([]);
    } finally {
      sync.destroy();
      client.destroy();
    }
  });
});
