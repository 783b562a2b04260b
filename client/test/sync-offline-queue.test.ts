import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, WebSocketClient, type RealtimeError } from '../src/index.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { setup } from './sync-harness.js';

// Edits made while the connection is down wait in the client's queue (at
// most messageQueueSize requests) until the next connection is ready.

const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Answers a sync with an empty last-write-wins entity at version 0. */
function answerSync(server: FakeServer, sock: FakeWebSocket, f: SentFrame): true {
  server.ack(sock, f, {
    strategy: 'last-write-wins', version: 0, snapshot: true, document: {}, changes: [],
    hasMore: false, nextSinceVersion: 0, conflicts: [], lock: null,
  });
  return true;
}

/** A server that syncs every row at version 0 and applies every change as version 1. */
function rowServer(): FakeServer {
  const server: FakeServer = new FakeServer({
    handler: (sock, f) => {
      const p = (f.payload ?? {}) as Record<string, unknown>;
      if (f.type === 'sync') return answerSync(server, sock, f);
      if (f.type === 'change') {
        const change = {
          id: `row:${String(p['entityId'])}:1`, entityType: 'row', entityId: p['entityId'], userId: 'u1', operation: 'update',
          path: p['path'], after: p['after'], timestamp: new Date().toISOString(), resolved: true, version: 1, messageId: f.messageId,
        };
        server.ack(sock, f, { entityType: 'row', entityId: p['entityId'], outcome: 'applied', applied: true, version: 1, change });
        return true;
      }
      return false;
    },
  });
  return server;
}

it("the reconnect's catch-up syncs do not push the changes made offline out of the client's queue", async () => {
  const server = rowServer();
  // The default pacing: the resubscribes of the new connection spend its
  // burst, so the queue is still full when the manager's syncs join it.
  const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0, maxConnectionAge: 0, random: () => 0.5 });
  client.connect();
  FakeWebSocket.last.open();
  await flush();
  const manager = new RealtimeSyncManager({ client, loadHistory: false });
  const rows = Array.from({ length: 60 }, (_, i) => String(i));
  const started = Promise.all(rows.map((id) => manager.startSync('row', id)));
  await vi.advanceTimersByTimeAsync(10_000);
  await started;

  // One edit per row made offline: 60 changes queued (of 100). At the
  // reconnect the manager queues a sync per row behind them.
  FakeWebSocket.last.serverClose(1006);
  await flush();
  const results: (number | string)[] = [];
  for (const id of rows) {
    manager
      .pushChange({ entityType: 'row', entityId: id, operation: 'update', path: 'status', after: 'x' })
      .then((c) => results.push(c.version), (e: RealtimeError) => results.push(e.code));
  }
  await flush();
  expect(client.queuedMessages).toBe(60);
  await vi.advanceTimersByTimeAsync(2_000);
  FakeWebSocket.last.open();
  await vi.advanceTimersByTimeAsync(30_000);
  expect(results).toEqual(rows.map(() => 1));
  expect(server.framesOfType('change')).toHaveLength(60);
});

it('stopSync while offline withdraws the change at the head of the queue too: nothing is sent on the next connection', async () => {
  const s = await setup((sock, f, st) => f.type === 'sync' && answerSync(st.server, sock, f));
  await s.manager.startSync('order', '1');
  s.sock.serverClose(1006);
  await flush();
  const outcomes: Record<string, string> = {};
  const push = (after: string): void => {
    s.manager
      .pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'status', after })
      .then(() => (outcomes[after] = 'ok'), (e: RealtimeError) => (outcomes[after] = e.code));
  };
  push('draft-1'); // in the client's queue
  push('draft-2'); // behind it, in the manager
  await flush();
  expect(s.client.queuedMessages).toBe(1);
  s.manager.stopSync('order', '1');
  await flush();
  expect(outcomes).toEqual({ 'draft-1': 'NOT_FOLLOWING', 'draft-2': 'NOT_FOLLOWING' });
  expect(s.client.queuedMessages).toBe(0);
  await vi.advanceTimersByTimeAsync(2_000);
  FakeWebSocket.last.open();
  await vi.advanceTimersByTimeAsync(1_000);
  expect(s.server.framesOfType('change')).toHaveLength(0);
});

it('stopSync withdrawing a resend queued offline says an earlier attempt may have been applied', async () => {
  // The change is never answered.
  const s = await setup((sock, f, st) => f.type === 'change' || (f.type === 'sync' && answerSync(st.server, sock, f)));
  await s.manager.startSync('order', '1');
  let failed: RealtimeError | null = null;
  s.manager
    .pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'status', after: 'paid' })
    .catch((e: RealtimeError) => (failed = e));
  await vi.advanceTimersByTimeAsync(15_000); // no reply: TIMEOUT, sent again shortly
  s.sock.serverClose(1006);
  await vi.advanceTimersByTimeAsync(500);
  expect(s.client.queuedMessages).toBe(1);
  s.manager.stopSync('order', '1');
  await flush();
  expect(failed).toMatchObject({ code: 'NOT_FOLLOWING', details: { maybeApplied: true } });
  expect(s.client.queuedMessages).toBe(0);
  expect(s.server.framesOfType('change')).toHaveLength(1);
});
