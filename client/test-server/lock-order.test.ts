/// <reference types="node" />
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeSyncManager, createWebSocketClient, type WebSocketClient } from '../src/index.js';
import { devClient, startLocalServer, until, type LocalServer } from './server.js';

// The server runs each message of a connection on its own, in any order. A
// lock.release carries no fencing token and lets go of the user's lock,
// whichever grant it is: run after a lock.acquire sent behind it, it would
// let that grant go.

let server: LocalServer;
const clients: WebSocketClient[] = [];

beforeAll(async () => {
  server = await startLocalServer();
});
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});

/**
 * A client of `userId` whose lock.release frames reach the server 300 ms
 * late: the server then runs a lock.acquire sent after one first, as it may
 * when both are handled at once.
 */
function lateReleaseClient(userId: string): WebSocketClient {
  class LateReleaseWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      const send = this.send.bind(this);
      this.send = ((data: string) => {
        if ((JSON.parse(data) as { type: string }).type !== 'lock.release') return send(data);
        setTimeout(() => {
          if (this.readyState === WebSocket.OPEN) send(data);
        }, 300);
      }) as typeof this.send;
    }
  }
  const c = createWebSocketClient({ url: `${server.wsUrl}?userId=${userId}`, WebSocketImpl: LateReleaseWebSocket, rateLimit: false });
  clients.push(c);
  c.connect();
  return c;
}

describe('lock.acquire after lock.release', () => {
  it('an acquireLock right after releaseLock keeps its grant on the server', async () => {
    const ann = lateReleaseClient('ann');
    const bob = devClient(server, 'bob', clients);
    const a = new RealtimeSyncManager({ client: ann, loadHistory: false });
    const b = new RealtimeSyncManager({ client: bob, loadHistory: false });
    await until(() => ann.connected && bob.connected, 10_000, 'connected');
    await a.startSync('order', 'order-1');
    expect(await a.acquireLock('order', 'order-1')).toMatchObject({ lockedBy: 'ann' });

    const released = a.releaseLock('order', 'order-1');
    const acquired = a.acquireLock('order', 'order-1');
    await released;
    expect(await acquired).toMatchObject({ lockedBy: 'ann' });
    expect(a.getState('order', 'order-1').lockedByMe).toBe(true);
    // Ann holds it on the server: Bob is refused.
    expect(await b.acquireLock('order', 'order-1')).toBeNull();
    a.destroy();
    b.destroy();
  });
});
