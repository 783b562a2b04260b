import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, WebSocketClient } from '../src/index.js';
import type { DocumentValue } from '../src/document.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { flush, stored } from './rebase-harness.js';

interface S {
  manager: RealtimeSyncManager; server: FakeServer; sock: FakeWebSocket;
  frames: SentFrame[]; syncs: SentFrame[];
}

async function setup(document: DocumentValue): Promise<S> {
  const s = { frames: [], syncs: [] } as unknown as S;
  s.server = new FakeServer({
    handler: (sock, f) => {
      if (f.type === 'sync') {
        s.syncs.push(f);
        if (s.syncs.length === 1) {
          s.server.ack(sock, f, { strategy: 'operational-transform', version: 1, snapshot: true, document,
            changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null });
        }
        if (s.syncs.length >= 3) {
          // a repeat asked while the second ran: nothing new since
          const since = (f.payload as Record<string, unknown>)['sinceVersion'];
          s.server.ack(sock, f, { strategy: 'operational-transform', version: since, snapshot: false, document: null,
            changes: [], hasMore: false, nextSinceVersion: since, conflicts: [], lock: null });
        }
        return true; // the second is answered by the test
      }
      if (f.type === 'change') { s.frames.push(f); return true; }
      return false;
    },
  });
  const client = new WebSocketClient({ url: 'ws://test.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
    maxConnectionAge: 0, rateLimit: false, random: () => 0.5 });
  client.connect();
  s.sock = FakeWebSocket.last;
  s.sock.open();
  await flush();
  s.manager = new RealtimeSyncManager({ client, loadHistory: false });
  await s.manager.startSync('customer', '42');
  return s;
}

beforeEach(() => { vi.useFakeTimers(); FakeWebSocket.reset(); });
afterEach(() => { vi.useRealTimers(); });

describe('a change not sent yet is judged after a sync under way', () => {
  it('an unsent list update whose element another user deleted (learned by the sync its lift waited for) is settled dropped, not sent at the wrong index', async () => {
    const s = await setup({ items: [{ qty: 1 }, { qty: 2 }, { qty: 3 }] });
    // A skipped version starts a sync (held by the test).
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(3, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x') });
    await flush();
    expect(s.syncs).toHaveLength(2);
    const b = s.manager.pushChange({ entityType: 'customer', entityId: '42', operation: 'update', path: 'items[1].qty', after: 20 });
    const outcome = b.then((c) => String(c.metadata?.['outcome']), (e: { code: string }) => e.code);
    await flush();
    // The sync answers: v2 deleted items[1], v3 set the name.
    s.server.ack(s.sock, s.syncs[1]!, { strategy: 'operational-transform', version: 3, snapshot: false, document: null,
      changes: [stored(2, 'u2', { op: 'delete', path: 'items[1]' }, null), stored(3, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x')],
      hasMore: false, nextSinceVersion: 3, conflicts: [], lock: null });
    await flush();
    await flush();
    // It must not go out as items[1].qty on v3, where items[1] is the former items[2] ({qty: 3}).
    expect(s.frames.map((f) => f.payload)).toEqual([]);
    expect(await outcome).toBe('dropped');
  });

  it('an unsent list update made stale by the whole-document sync its lift waited for is refused with REBASE_FAILED, not sent', async () => {
    const s = await setup({ items: [{ qty: 1 }, { qty: 2 }, { qty: 3 }] });
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(3, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x') });
    await flush();
    const b = s.manager.pushChange({ entityType: 'customer', entityId: '42', operation: 'update', path: 'items[1].qty', after: 20 });
    const outcome = b.then((c) => String(c.metadata?.['outcome']), (e: { code: string }) => e.code);
    await flush();
    s.server.ack(s.sock, s.syncs[1]!, { strategy: 'operational-transform', version: 3, snapshot: true,
      document: { items: [{ qty: 1 }, { qty: 3 }], name: 'x' }, changes: [], hasMore: false, nextSinceVersion: 3, conflicts: [], lock: null });
    await flush();
    await flush();
    expect(s.frames.map((f) => f.payload)).toEqual([]);
    expect(await outcome).toBe('REBASE_FAILED');
  });

  it('stopSync while an unsent change waits (for its parent lift) on a sync under way rejects it with NOT_FOLLOWING and sends nothing', async () => {
    const s = await setup({ name: 'n' });
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(3, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x') });
    await flush();
    const b = s.manager.pushChange({ entityType: 'customer', entityId: '42', operation: 'update', path: 'status', after: 'vip' });
    const outcome = b.then((c) => String(c.metadata?.['outcome'] ?? c.version), (e: { code: string }) => e.code);
    await flush();
    s.manager.stopSync('customer', '42'); // the editor closes before the change went out
    s.server.ack(s.sock, s.syncs[1]!, { strategy: 'operational-transform', version: 3, snapshot: true,
      document: { name: 'x' }, changes: [], hasMore: false, nextSinceVersion: 3, conflicts: [], lock: null });
    await flush();
    await flush();
    expect(s.frames.map((f) => f.payload)).toEqual([]);
    expect(await outcome).toBe('NOT_FOLLOWING');
  });
});
