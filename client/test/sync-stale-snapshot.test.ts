import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { change, flush, reconnect, setup, type Setup } from './sync-harness.js';

// A sync reply is read when the server handles the sync; the change events
// (and the acks of this user's changes) travel by other paths, so a version
// may be applied before the reply to a sync read at an older one arrives.
// Such a reply must never move the entity back: a whole-document snapshot
// older than the version held is not taken, and the manager syncs again
// from the version it holds.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

const snapshot = (version: number, document: Record<string, unknown>): Record<string, unknown> => ({
  strategy: 'last-write-wins',
  version,
  snapshot: true,
  document,
  changes: [],
  hasMore: false,
  nextSinceVersion: version,
  conflicts: [],
  lock: null,
});

const catchUp = (version: number, changes: unknown[]): Record<string, unknown> => ({
  strategy: 'last-write-wins',
  version,
  snapshot: false,
  changes,
  hasMore: false,
  nextSinceVersion: version,
  conflicts: [],
  lock: null,
});

const sinceOf = (f: SentFrame): unknown => (f.payload as Record<string, unknown>)['sinceVersion'];

it("the first sync's snapshot, read before another user's change applied meanwhile, does not take it away", async () => {
  const held: SentFrame[] = [];
  const s = await setup((sock, f, st) => {
    if (f.type !== 'sync') return false;
    if (held.length === 0) held.push(f);
    else st.server.ack(sock, f, catchUp(1, []));
    return true;
  });
  const started = s.manager.startSync('order', '1');
  await flush();
  expect(held).toHaveLength(1);
  s.sock.receive({ type: 'change', channel: 'order:1', payload: change(1, 'status', 'confirmed') });
  await flush();
  expect(s.manager.getState('order', '1')).toMatchObject({ version: 1, document: { status: 'confirmed' } });
  s.server.ack(s.sock, held[0]!, snapshot(0, {})); // read at version 0
  await started;
  await flush();
  expect(s.manager.getState('order', '1')).toMatchObject({ version: 1, document: { status: 'confirmed' }, syncState: 'synced' });
  // It synced again, from the version it holds.
  expect(s.server.framesOfType('sync').map(sinceOf)).toEqual([0, 1]);
});

it("a reconnect's snapshot, read before this user's resent change was applied, does not take it away", async () => {
  let connection = 0;
  let held: { sock: FakeWebSocket; f: SentFrame } | undefined;
  const s = await setup((sock, f, st) => {
    if (f.type === 'sync') {
      if (connection === 0) st.server.ack(sock, f, snapshot(0, {}));
      else if (held === undefined) held = { sock, f };
      else st.server.ack(sock, f, catchUp(1, []));
      return true;
    }
    if (f.type === 'change') {
      if (connection === 0) return true; // unanswered: in flight when the connection drops
      const c = { ...change(1, 'status', 'paid', 'u1'), messageId: f.messageId };
      st.server.ack(sock, f, { entityType: 'order', entityId: '1', outcome: 'applied', applied: true, version: 1, change: c });
      return true;
    }
    return false;
  });
  await s.manager.startSync('order', '1');
  const pushed = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'status', after: 'paid' });
  await flush();
  expect(s.server.framesOfType('change')).toHaveLength(1);
  connection = 1;
  await reconnect();
  await expect(pushed).resolves.toMatchObject({ version: 1 });
  expect(s.manager.getState('order', '1')).toMatchObject({ version: 1, document: { status: 'paid' } });
  expect(held).toBeDefined();
  s.server.ack(held!.sock, held!.f, snapshot(0, {})); // read before the resent change was applied
  await flush();
  await flush();
  expect(s.manager.getState('order', '1')).toMatchObject({ version: 1, document: { status: 'paid' }, syncState: 'synced' });
  expect(s.server.framesOfType('sync').map(sinceOf)).toEqual([0, 0, 1]);
});

/**
 * Follows order:1 from a snapshot at version 3; version 5 comes first (the
 * gap makes the manager sync from 3, a sync held unanswered), then 4 and
 * 5 are applied. Later syncs are answered with nothing newer than 5.
 */
async function gapFilledWhileSyncing(): Promise<{ s: Setup; held: SentFrame }> {
  let held: SentFrame | undefined;
  const s = await setup((sock, f, st) => {
    if (f.type !== 'sync') return false;
    const since = sinceOf(f);
    if (since === 0) st.server.ack(sock, f, snapshot(3, { status: 'draft', total: 3 }));
    else if (since === 3) held = f;
    else st.server.ack(sock, f, catchUp(5, []));
    return true;
  });
  await s.manager.startSync('order', '1');
  expect(s.manager.getState('order', '1').version).toBe(3);
  s.sock.receive({ type: 'change', channel: 'order:1', payload: change(5, 'total', 5) });
  await flush();
  expect(held).toBeDefined();
  s.sock.receive({ type: 'change', channel: 'order:1', payload: change(4, 'status', 'sent') });
  s.sock.receive({ type: 'change', channel: 'order:1', payload: change(5, 'total', 5) });
  await flush();
  expect(s.manager.getState('order', '1')).toMatchObject({ version: 5, document: { status: 'sent', total: 5 } });
  return { s, held: held! };
}

it('a snapshot older than the versions applied while it was out is not taken at a non-zero version either', async () => {
  const { s, held } = await gapFilledWhileSyncing();
  // The reply was read at version 4 (past the history kept since 3).
  s.server.ack(s.sock, held, snapshot(4, { status: 'sent', total: 3 }));
  await flush();
  await flush();
  expect(s.manager.getState('order', '1')).toMatchObject({ version: 5, document: { status: 'sent', total: 5 }, syncState: 'synced' });
  expect(s.server.framesOfType('sync').map(sinceOf)).toEqual([0, 3, 5]);
});

it('a catch-up reply older than the versions applied while it was out changes nothing', async () => {
  const { s, held } = await gapFilledWhileSyncing();
  s.server.ack(s.sock, held, catchUp(4, [change(4, 'status', 'sent')]));
  await flush();
  expect(s.manager.getState('order', '1')).toMatchObject({ version: 5, document: { status: 'sent', total: 5 }, syncState: 'synced' });
  expect(s.server.framesOfType('sync').map(sinceOf)).toEqual([0, 3]);
});

it('a snapshot below the version held is still taken when nothing was applied while it was out', async () => {
  // The server answers a sinceVersion ahead of the entity with the whole
  // document: the entity was recreated, or its table restored.
  let restored = false;
  const s = await setup((sock, f, st) => {
    if (f.type !== 'sync') return false;
    st.server.ack(sock, f, restored ? snapshot(2, { status: 'restored' }) : snapshot(6, { status: 'draft' }));
    return true;
  });
  await s.manager.startSync('order', '1');
  expect(s.manager.getState('order', '1').version).toBe(6);
  restored = true;
  await reconnect();
  await flush();
  expect(s.manager.getState('order', '1')).toMatchObject({ version: 2, document: { status: 'restored' }, syncState: 'synced' });
  expect(s.server.framesOfType('sync').map(sinceOf)).toEqual([0, 6]);
});
