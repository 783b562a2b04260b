import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, type Change } from '../src/index.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { change, flush, lock, setup } from './sync-harness.js';

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RealtimeSyncManager races', () => {
  it('keeps an existing parent when the previous local change was acked with a skipped version', async () => {
    const sent: Record<string, unknown>[] = [];
    let syncs = 0;
    const s = await setup((sock, f, st) => {
      if (f.type === 'sync') {
        syncs++;
        // The first sync, then the catch-up sync of the gap (version 2 was
        // another user's change, whose event has not arrived).
        st.server.ack(sock, f, syncs === 1
          ? { strategy: 'last-write-wins', version: 1, snapshot: true, document: { status: 'new' },
              changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null }
          : { strategy: 'last-write-wins', version: 3, snapshot: true, document: { status: 'paid', customer: { id: 7, email: 'a@b.c' } },
              changes: [], hasMore: false, nextSinceVersion: 3, conflicts: [], lock: null });
        return true;
      }
      if (f.type !== 'change') return;
      const p = f.payload as Record<string, unknown>;
      sent.push(p);
      // Version 2 was another user's change (its event not here yet): ours is version 3.
      const v = sent.length === 1 ? 3 : 4;
      st.server.ack(sock, f, {
        entityType: 'order', entityId: '1', outcome: 'applied', applied: true, version: v,
        change: { ...change(v, String(p['path']), p['after'], 'u1'), messageId: f.messageId },
      });
      return true;
    });
    await s.manager.startSync('order', '1');
    const a = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'customer', after: { id: 7, email: 'a@b.c' } });
    const b = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'customer.name', after: 'Ann' });
    await vi.advanceTimersByTimeAsync(10_000);
    await a;
    await b;
    // Judged on the document after the catch-up sync, which holds the customer.
    expect(sent[1]).toMatchObject({ path: 'customer.name', after: 'Ann' });
  });

  it('does not lift a nested key on the empty document when the first sync failed', async () => {
    const sent: Record<string, unknown>[] = [];
    let syncs = 0;
    const s = await setup((sock, f, st) => {
      if (f.type === 'sync') {
        syncs++;
        if (syncs === 1) {
          st.server.error(sock, f, 'INTERNAL');
          return true;
        }
        st.server.ack(sock, f, {
          strategy: 'last-write-wins', version: 1, snapshot: true, document: { customer: { name: 'Old', email: 'a@b.c' } },
          changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null,
        });
        return true;
      }
      if (f.type !== 'change') return;
      const p = f.payload as Record<string, unknown>;
      sent.push(p);
      // last-write-wins takes a stale baseVersion (docs/PROTOCOL.md): applied as sent.
      st.server.ack(sock, f, { outcome: 'applied', applied: true, version: 2, change: { ...change(2, String(p['path']), p['after'], 'u1'), messageId: f.messageId } });
      return true;
    });
    const started = s.manager.startSync('order', '1');
    const pushed = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'customer.name', after: 'New' });
    await vi.advanceTimersByTimeAsync(10_000);
    await started.catch(() => {});
    await pushed.catch(() => {});
    expect(sent).toHaveLength(1);
    // The server's customer {name: Old, email} is replaced by {name: New}: email lost.
    expect(sent[0]).toMatchObject({ path: 'customer.name', after: 'New' });
  });

  it('a change not yet sent is settled when stopSync runs inside a change listener', async () => {
    const held: SentFrame[] = [];
    const s = await setup((sock, f, st) => {
      if (f.type === 'sync') {
        st.server.ack(sock, f, {
          strategy: 'last-write-wins', version: 0, snapshot: true, document: {},
          changes: [], hasMore: false, nextSinceVersion: 0, conflicts: [], lock: null,
        });
        return true;
      }
      if (f.type !== 'change') return;
      held.push(f);
      st.server.ack(sock, f, { outcome: 'applied', applied: true, version: held.length, change: { ...change(held.length, 'a', 1, 'u1'), messageId: f.messageId } });
      return true;
    });
    await s.manager.startSync('order', '1');
    const settled: string[] = [];
    const track = (name: string, p: Promise<Change>): void => {
      p.then(() => settled.push(`${name} ok`), (e: { code: string }) => settled.push(`${name} ${e.code}`));
    };
    // An editor that closes once the first save went through.
    const off = s.manager.subscribeEntity('order', '1', () => {
      const st = s.manager.getState('order', '1');
      if (st.version === 1 && s.manager.entities.includes('order:1')) {
        off();
        s.manager.stopSync('order', '1');
      }
    });
    track('first', s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'a', after: 1 }));
    track('second', s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'b', after: 2 }));
    await vi.advanceTimersByTimeAsync(120_000);
    expect(held).toHaveLength(1);
    expect(settled.sort()).toEqual(['first ok', 'second NOT_FOLLOWING']);
  });

  it('a change taking the lock is not refused as LOCK_HELD when releaseLock ran while the lock was being taken', async () => {
    let acquire: SentFrame | undefined;
    const s = await setup((sock, f, st) => {
      if (f.type === 'lock.acquire') {
        if (acquire === undefined) {
          acquire = f; // answered after the release was sent
          return true;
        }
        st.server.ack(sock, f, { lock: lock('u1', 8) }); // taken again for the change
        return true;
      }
      if (f.type === 'lock.release') {
        // In order: the acquire was handled first, this release frees it.
        st.server.ack(sock, acquire!, { lock: lock('u1', 7) });
        st.server.ack(sock, f, { released: true, lock: lock('u1', 7) });
        return true;
      }
      if (f.type === 'change') {
        st.server.ack(sock, f, { outcome: 'applied', applied: true, version: 1, change: { ...change(1, 'a', 1, 'u1'), messageId: f.messageId } });
        return true;
      }
      return false;
    });
    await s.manager.startSync('order', '1'); // lock-based
    const pushed = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'a', after: 1 });
    await flush();
    expect(acquire).toBeDefined();
    // e.g. a useLock elsewhere on the page unmounts and lets go of the entity's lock
    await s.manager.releaseLock('order', '1');
    let err: { code: string; message: string; details?: unknown } | null = null;
    await vi.advanceTimersByTimeAsync(1_000);
    await pushed.catch((e) => (err = e));
    // Nobody else holds the lock: "locked by another user" is false.
    expect(err).toBeNull();
  });

  it('autoResolveConflicts forgets the ids of conflicts it settled once they are resolved', async () => {
    const s = await setup((sock, f, st) => {
      if (f.type === 'sync') {
        st.server.ack(sock, f, { strategy: 'manual', version: 1, snapshot: true, document: {}, changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null });
        return true;
      }
      if (f.type === 'conflict.resolve') {
        const id = String((f.payload as Record<string, unknown>)['conflictId']);
        st.server.ack(sock, f, { entityType: 'order', entityId: '1', outcome: 'unchanged', applied: false, version: 1,
          conflict: { id, entityType: 'order', entityId: '1', path: 'p', resolved: true, resolution: 'local', localChange: change(0, 'p', 1, 'u1'), remoteChange: change(1, 'p', 2) } });
        return true;
      }
      return false;
    });
    s.manager = new RealtimeSyncManager({ client: s.client, loadHistory: false, autoResolveConflicts: 'local', historyLimit: 10 });
    await s.manager.startSync('order', '1');
    for (let i = 0; i < 500; i++) {
      s.sock.receive({ type: 'conflict', channel: 'order:1', payload: { id: `c${i}`, entityType: 'order', entityId: '1', path: 'p', resolved: false,
        localChange: change(0, 'p', 1, 'u1'), remoteChange: change(1, 'p', 2) } });
      await flush();
    }
    const entry = (s.manager as unknown as { entries: Map<string, { conflicts: Map<string, unknown>; autoResolved: Set<string> }> }).entries.get('order:1')!;
    expect(entry.conflicts.size).toBe(10);
    expect(entry.autoResolved.size).toBeLessThanOrEqual(10);
  });
});
