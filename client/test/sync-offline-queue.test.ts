import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, WebSocketClient, type RealtimeError } from '../src/index.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { lock, reconnect, setup, type Setup } from './sync-harness.js';

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

/** A server of last-write-wins rows, each at version 0 and empty until a change applies (as the next version). */
function rowServer(): FakeServer {
  const rows = new Map<string, { version: number; document: Record<string, unknown> }>();
  const row = (id: unknown) => {
    const key = String(id);
    let r = rows.get(key);
    if (r === undefined) rows.set(key, (r = { version: 0, document: {} }));
    return r;
  };
  const server: FakeServer = new FakeServer({
    handler: (sock, f) => {
      const p = (f.payload ?? {}) as Record<string, unknown>;
      if (f.type === 'sync') {
        const r = row(p['entityId']);
        server.ack(sock, f, {
          strategy: 'last-write-wins', version: r.version, snapshot: true, document: r.document, changes: [],
          hasMore: false, nextSinceVersion: r.version, conflicts: [], lock: null,
        });
        return true;
      }
      if (f.type === 'change') {
        const r = row(p['entityId']);
        r.version++;
        r.document = { ...r.document, [String(p['path'])]: p['after'] };
        const change = {
          id: `row:${String(p['entityId'])}:${r.version}`, entityType: 'row', entityId: p['entityId'], userId: 'u1', operation: 'update',
          path: p['path'], after: p['after'], timestamp: new Date().toISOString(), resolved: true, version: r.version, messageId: f.messageId,
        };
        server.ack(sock, f, { entityType: 'row', entityId: p['entityId'], outcome: 'applied', applied: true, version: r.version, change });
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
  const dropped: string[] = [];
  client.on('queue-overflow', (o) => dropped.push(o.dropped.type));
  await vi.advanceTimersByTimeAsync(2_000);
  FakeWebSocket.last.open();
  await vi.advanceTimersByTimeAsync(30_000);
  expect(results).toEqual(rows.map(() => 1));
  expect(server.framesOfType('change')).toHaveLength(60);
  // Syncs, and only syncs, were refused by the full queue.
  expect(dropped.length).toBeGreaterThan(0);
  expect(new Set(dropped)).toEqual(new Set(['sync']));
  // The catch-up syncs the full queue refused (QUEUE_OVERFLOW) are made
  // again: every row ends synced, holding its change.
  expect(rows.filter((id) => manager.getState('row', id).syncState !== 'synced')).toEqual([]);
  expect(rows.filter((id) => manager.getState('row', id).error !== null)).toEqual([]);
  expect(rows.map((id) => manager.getState('row', id).version)).toEqual(rows.map(() => 1));
  expect(rows.map((id) => manager.getState('row', id).document)).toEqual(rows.map(() => ({ status: 'x' })));
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

/**
 * order:1 (lock-based in the harness) followed, its lock not held, and a
 * change pushed after `before` (the connection dropped, or not): the change
 * waits for its lock.acquire. `failed()` is its rejection, once it comes.
 */
async function changeWaitingForLock(
  s: Setup,
  before: () => Promise<void> = async () => {},
): Promise<{ failed: () => RealtimeError | null }> {
  await s.manager.startSync('order', '1');
  await before();
  let failed: RealtimeError | null = null;
  s.manager
    .pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'status', after: 'paid' })
    .catch((e: RealtimeError) => (failed = e));
  await flush();
  return { failed: () => failed };
}

const offline = (s: Setup) => async (): Promise<void> => {
  s.sock.serverClose(1006);
  await flush();
};

it('stopSync while offline withdraws the lock.acquire a change of a lock-based entity waits for: it rejects, and no acquire goes out', async () => {
  const s = await setup();
  const change = await changeWaitingForLock(s, offline(s));
  expect(s.client.queuedMessages).toBe(1); // its lock.acquire
  s.manager.stopSync('order', '1');
  await flush();
  expect(change.failed()).toMatchObject({ code: 'NOT_FOLLOWING' });
  expect(s.client.queuedMessages).toBe(0);
  await vi.advanceTimersByTimeAsync(2_000);
  FakeWebSocket.last.open();
  await vi.advanceTimersByTimeAsync(10_000);
  expect(s.server.framesOfType('lock.acquire')).toHaveLength(0);
  expect(s.server.framesOfType('change')).toHaveLength(0);
  expect(s.server.framesOfType('lock.release')).toHaveLength(0);
  expect(s.manager.entities).toEqual([]);
});

it('a write whose lock.acquire was sent before stopSync rejects with NOT_FOLLOWING once granted, and asks for the lock no more', async () => {
  const held: SentFrame[] = [];
  const s = await setup((_sock, f) => {
    if (f.type !== 'lock.acquire') return;
    held.push(f); // answered below
    return true;
  });
  const change = await changeWaitingForLock(s);
  expect(held).toHaveLength(1); // written: it cannot be withdrawn
  s.manager.stopSync('order', '1');
  s.server.ack(s.sock, held[0]!, { lock: lock('u1', 7) });
  await vi.advanceTimersByTimeAsync(1_000);
  expect(change.failed()).toMatchObject({ code: 'NOT_FOLLOWING' });
  // The grant, come after the entity was let go of, is released; the lock is not asked for again.
  expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
  expect(s.server.framesOfType('lock.release')).toHaveLength(1);
  expect(s.server.framesOfType('change')).toHaveLength(0);
  expect(s.manager.entities).toEqual([]);
});

it("stopSync withdraws only the write's lock.acquire: an acquireLock of the application's still goes out", async () => {
  const s = await setup();
  const change = await changeWaitingForLock(s, offline(s));
  let asked: unknown = 'pending';
  s.manager.acquireLock('order', '1').then((l) => (asked = l), (e: RealtimeError) => (asked = e.code));
  await flush();
  expect(s.client.queuedMessages).toBe(2);
  s.manager.stopSync('order', '1');
  await flush();
  expect(change.failed()).toMatchObject({ code: 'NOT_FOLLOWING' });
  expect(s.client.queuedMessages).toBe(1);
  await vi.advanceTimersByTimeAsync(2_000);
  FakeWebSocket.last.open();
  await vi.advanceTimersByTimeAsync(10_000);
  // The application's acquire goes out; granted after the entity was let
  // go of, it is released at once (see acquireLock).
  expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
  expect(asked).toBeNull();
  expect(s.server.framesOfType('lock.release')).toHaveLength(1);
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

/** order:1 followed on a server that answers the next `refuse(n)` syncs with UNAVAILABLE (retryable). */
async function followRefusingSyncs(): Promise<{ s: Setup; refuse: (n: number) => void }> {
  let refusals = 0;
  const s = await setup((sock, f, st) => {
    if (f.type !== 'sync') return false;
    if (refusals > 0) {
      refusals--;
      st.server.error(sock, f, 'UNAVAILABLE', { retryable: true });
      return true;
    }
    return answerSync(st.server, sock, f);
  });
  await s.manager.startSync('order', '1');
  return { s, refuse: (n) => (refusals = n) };
}

it("a catch-up sync after a reconnect that fails with a retryable error is made again with backoff, until synced or no longer followed", async () => {
  const { s, refuse } = await followRefusingSyncs();
  refuse(2);
  await reconnect();
  expect(s.manager.getState('order', '1')).toMatchObject({ syncState: 'error', error: { code: 'UNAVAILABLE' } });
  const syncs = (): number => s.server.framesOfType('sync').length;
  const before = syncs();
  await vi.advanceTimersByTimeAsync(1_000); // the first wait: at most 1 s
  expect(syncs()).toBe(before + 1);
  expect(s.manager.getState('order', '1').syncState).toBe('error');
  await vi.advanceTimersByTimeAsync(2_000); // the second: at most 2 s
  expect(syncs()).toBe(before + 2);
  expect(s.manager.getState('order', '1')).toMatchObject({ syncState: 'synced', error: null });
  await vi.advanceTimersByTimeAsync(60_000);
  expect(syncs()).toBe(before + 2);

  // Let go of while a retry waits: it is not made.
  refuse(1);
  await reconnect();
  expect(s.manager.getState('order', '1').syncState).toBe('error');
  const after = syncs();
  s.manager.stopSync('order', '1');
  await vi.advanceTimersByTimeAsync(60_000);
  expect(syncs()).toBe(after);
});

it('a catch-up sync that fails while the connection is down is not retried on a timer: the next connection syncs', async () => {
  const { s, refuse } = await followRefusingSyncs();
  refuse(1);
  await reconnect();
  expect(s.manager.getState('order', '1').syncState).toBe('error');
  FakeWebSocket.last.serverClose(1006);
  await flush();
  const syncs = s.server.framesOfType('sync').length;
  await vi.advanceTimersByTimeAsync(1_500); // past the retry's wait; the next connection not open yet
  expect(s.server.framesOfType('sync')).toHaveLength(syncs);
  FakeWebSocket.last.open();
  await vi.advanceTimersByTimeAsync(100);
  expect(s.server.framesOfType('sync')).toHaveLength(syncs + 1);
  expect(s.manager.getState('order', '1').syncState).toBe('synced');
});
