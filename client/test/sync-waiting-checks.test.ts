import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeWebSocket } from './fake-websocket.js';
import { flush, setupHeldSync as setup, stored } from './rebase-harness.js';

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
