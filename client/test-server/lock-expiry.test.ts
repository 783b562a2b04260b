/// <reference types="node" />
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeSyncManager, createWebSocketClient, type Clock, type WebSocketClient } from '../src/index.js';
import { startLocalServer, until, type LocalServer } from './server.js';

// A lock that is not renewed in time expires on the local server, which
// sweeps every second so that the expiry is announced within a test.

let server: LocalServer;
const clients: WebSocketClient[] = [];

beforeAll(async () => {
  server = await startLocalServer({ args: ['-sweep', '1s'] });
});
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});

/** A client of the development user `userId` whose sent frame types are pushed to `sent`. */
function recordingClient(userId: string, sent: string[]): WebSocketClient {
  class RecordingWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      const send = this.send.bind(this);
      this.send = ((data: string) => {
        sent.push((JSON.parse(data) as { type: string }).type);
        send(data);
      }) as typeof this.send;
    }
  }
  const c = createWebSocketClient({ url: `${server.wsUrl}?userId=${userId}`, WebSocketImpl: RecordingWebSocket, rateLimit: false });
  clients.push(c);
  c.connect();
  return c;
}

// Timers that never fire: a background tab whose timers the browser held
// back, so the lock's renewal is never sent.
const heldBack: Clock = { now: () => Date.now(), setTimeout: () => null, clearTimeout: () => {} };

describe('a lock that expired', () => {
  it('is shown as expired and not taken again at the next reconnect; another user can take it', async () => {
    const sent: string[] = [];
    const ann = recordingClient('ann', sent);
    const bob = recordingClient('bob', []);
    const a = new RealtimeSyncManager({ client: ann, lockTtl: 1000, loadHistory: false, clock: heldBack });
    const b = new RealtimeSyncManager({ client: bob, loadHistory: false });
    await until(() => ann.connected && bob.connected, 10_000, 'connected');
    await a.startSync('order', 'exp-1');
    expect(await a.acquireLock('order', 'exp-1')).toMatchObject({ lockedBy: 'ann' });
    await until(() => a.getState('order', 'exp-1').lock === null, 15_000, 'the expiry announced');

    sent.length = 0;
    ann.disconnect();
    ann.connect();
    await until(() => sent.includes('sync') && a.getState('order', 'exp-1').syncState === 'synced', 10_000, 'synced again');
    expect(sent).not.toContain('lock.acquire');
    expect(a.getState('order', 'exp-1')).toMatchObject({ lockedByMe: false, expiredLock: { lockedBy: 'ann' } });
    expect(await b.acquireLock('order', 'exp-1')).toMatchObject({ lockedBy: 'bob' });
    a.destroy();
    b.destroy();
  });
});
