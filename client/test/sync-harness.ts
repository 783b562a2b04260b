// The harness of the RealtimeSyncManager tests: a fake server that answers
// sync, history, comment.list and the lock requests of a lock-based
// entity order:1, a connected client (no pacing, no heartbeat) and a
// manager that loads no history; `setup` takes other client options.
import { vi } from 'vitest';
import { RealtimeSyncManager, WebSocketClient, type Change, type Lock, type WebSocketClientOptions } from '../src/index.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';

export const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

export function change(version: number, path: string, after: unknown, userId = 'u2'): Change {
  return {
    id: `order:1:${version}`,
    entityType: 'order',
    entityId: '1',
    userId,
    operation: 'update',
    path,
    before: null,
    after,
    timestamp: new Date().toISOString(),
    resolved: true,
    version,
  };
}

export function lock(userId: string, token: number): Lock {
  return {
    entityType: 'order',
    entityId: '1',
    lockedBy: userId,
    lockedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 30_000).toISOString(),
    fencingToken: token,
  };
}

export interface Setup {
  client: WebSocketClient;
  manager: RealtimeSyncManager;
  server: FakeServer;
  sock: FakeWebSocket;
  /** Server-side document version. */
  version: { v: number };
}

export async function setup(
  handler?: (sock: FakeWebSocket, f: SentFrame, s: Setup) => boolean | void,
  clientOptions: Partial<WebSocketClientOptions> = {},
): Promise<Setup> {
  const s = { version: { v: 0 } } as Setup;
  s.server = new FakeServer({
    handler: (sock, f) => {
      if (handler?.(sock, f, s) === true) return true;
      const p = (f.payload ?? {}) as Record<string, unknown>;
      switch (f.type) {
        case 'sync':
          s.server.ack(sock, f, {
            strategy: 'lock-based',
            version: s.version.v,
            snapshot: p['sinceVersion'] === 0,
            document: {},
            changes: [],
            hasMore: false,
            nextSinceVersion: s.version.v,
            conflicts: [],
            lock: null,
          });
          return true;
        case 'history':
          s.server.ack(sock, f, { version: s.version.v, changes: [] });
          return true;
        case 'comment.list':
          s.server.ack(sock, f, { comments: [] });
          return true;
        case 'lock.acquire':
        case 'lock.renew':
          s.server.ack(sock, f, { lock: lock('u1', 7) });
          return true;
        case 'lock.release':
          s.server.ack(sock, f, { released: true, lock: lock('u1', 7) });
          return true;
      }
      return false;
    },
  });
  s.client = new WebSocketClient({
    url: 'ws://test.invalid/ws',
    WebSocketImpl: FakeWebSocket,
    heartbeatInterval: 0,
    maxConnectionAge: 0,
    rateLimit: false,
    random: () => 0.5,
    ...clientOptions,
  });
  s.client.connect();
  s.sock = FakeWebSocket.last;
  s.sock.open();
  await flush();
  s.manager = new RealtimeSyncManager({ client: s.client, loadHistory: false });
  return s;
}

/** Drops the connection and opens the next one once the client reconnects, then lets its ready run. */
export async function reconnect(): Promise<void> {
  FakeWebSocket.last.serverClose(1006);
  await vi.advanceTimersByTimeAsync(2_000);
  FakeWebSocket.last.open();
  await flush();
  await flush();
}

/** How many idle states (of entities not followed) a manager keeps. */
export function idleStates(m: RealtimeSyncManager): number {
  const kept = m as unknown as { idle: Map<string, unknown>; lastIdle?: unknown };
  return kept.idle.size + (kept.lastIdle === undefined || kept.lastIdle === null ? 0 : 1);
}
