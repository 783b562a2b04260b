import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, type Change, type Conflict } from '../src/index.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { change, flush, idleStates, lock, setup, type Setup } from './sync-harness.js';

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RealtimeSyncManager', () => {
  it('replays changes in order, ignores duplicates and syncs on a gap', async () => {
    const s = await setup();
    await s.manager.startSync('order', '1');
    s.sock.receive({ type: 'change', channel: 'order:1', payload: change(1, 'status', 'confirmed') });
    s.sock.receive({ type: 'change', channel: 'order:1', payload: change(1, 'status', 'ignored') });
    await flush();
    expect(s.manager.getState('order', '1').document).toEqual({ status: 'confirmed' });
    expect(s.manager.getState('order', '1').remoteChanges).toHaveLength(1);
    expect(s.server.framesOfType('sync')).toHaveLength(1);

    // Version 2 was missed: version 3 makes the manager ask for what it lacks.
    s.version.v = 3;
    s.sock.receive({ type: 'change', channel: 'order:1', payload: change(3, 'notes', 'x') });
    await flush();
    const syncs = s.server.framesOfType('sync');
    expect(syncs).toHaveLength(2);
    expect((syncs[1]?.payload as { sinceVersion: number }).sinceVersion).toBe(1);
  });

  it('sends the first sync only once the subscription is confirmed', async () => {
    let held: SentFrame | undefined;
    const s = await setup((_sock, f) => {
      if (f.type === 'subscribe') {
        held = f;
        return true; // answered below
      }
      return false;
    });
    const started = s.manager.startSync('order', '1');
    await flush();
    // A change accepted now would reach neither a sync answered before the
    // subscription nor the subscription: no sync goes out yet.
    expect(s.server.framesOfType('subscribe')).toHaveLength(1);
    expect(s.server.framesOfType('sync')).toHaveLength(0);
    s.version.v = 2;
    s.server.ack(s.sock, held!, { channel: 'order:1' });
    const state = await started;
    expect(s.server.framesOfType('sync')).toHaveLength(1);
    expect(state.version).toBe(2);
    expect(state.syncState).toBe('synced');
  });

  it('still syncs once when the subscribe is refused, and reports the error', async () => {
    const s = await setup((sock, f, st) => {
      if (f.type === 'subscribe') {
        st.server.error(sock, f, 'FORBIDDEN');
        return true;
      }
      return false;
    });
    const state = await s.manager.startSync('order', '1');
    expect(s.server.framesOfType('sync')).toHaveLength(1);
    expect(state.syncState).toBe('synced');
    expect(state.error?.code).toBe('FORBIDDEN');
  });

  it('sends changes with the base version and the fencing token, and keeps the lock renewed', async () => {
    const s = await setup((sock, f, st) => {
      if (f.type !== 'change') return;
      st.version.v++;
      st.server.ack(sock, f, { outcome: 'applied', applied: true, version: st.version.v, change: change(st.version.v, 'status', 'paid', 'u1') });
      return true;
    });
    await s.manager.startSync('order', '1');
    const p = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'status', after: 'paid' });
    expect(s.manager.getState('order', '1').document).toEqual({ status: 'paid' }); // optimistic
    const c = await p;
    expect(c.version).toBe(1);
    const sent = s.server.framesOfType('change')[0]?.payload as Record<string, unknown>;
    expect(sent).toMatchObject({ baseVersion: 0, fencingToken: 7, operation: 'update', path: 'status', after: 'paid' });
    expect(s.manager.getState('order', '1').lockedByMe).toBe(true);
    expect(s.manager.getState('order', '1').localChanges).toHaveLength(0);
    // Renewed at half the 30 s lifetime.
    await vi.advanceTimersByTimeAsync(15_000);
    expect(s.server.framesOfType('lock.renew')).toHaveLength(1);
  });

  it('takes the lock again and resends with the same messageId when the lock lapsed', async () => {
    let refused = false;
    const s = await setup((sock, f, st) => {
      if (f.type !== 'change') return;
      if (!refused) {
        refused = true;
        st.server.error(sock, f, 'LOCK_REQUIRED');
        return true;
      }
      st.version.v++;
      st.server.ack(sock, f, { outcome: 'applied', applied: true, version: 1, change: change(1, 'notes', 'n', 'u1') });
      return true;
    });
    await s.manager.startSync('order', '1');
    await s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'notes', after: 'n' });
    const changes = s.server.framesOfType('change');
    expect(changes).toHaveLength(2);
    expect(changes[0]?.messageId).toBe(changes[1]?.messageId);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
  });

  it('applies noAutoLock to the change pushed with it, not to the others sent in the same run', async () => {
    let release: (() => void) | undefined;
    const s = await setup((sock, f, st) => {
      if (f.type !== 'change') return;
      const p = f.payload as Record<string, unknown>;
      if (p['fencingToken'] === undefined) {
        st.server.error(sock, f, 'LOCK_REQUIRED');
        return true;
      }
      const ackIt = (): void => {
        const v = ++st.version.v;
        st.server.ack(sock, f, { outcome: 'applied', applied: true, version: v, change: { ...change(v, String(p['path']), p['after'], 'u1'), messageId: f.messageId } });
      };
      if (release === undefined) release = ackIt; // the first change is held
      else ackIt();
      return true;
    });
    await s.manager.startSync('order', '1');
    const first = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'a', after: 1 });
    await flush();
    const second = s.manager
      .pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'b', after: 2 }, { noAutoLock: true })
      .then(() => 'ok', (e: { code: string }) => e.code);
    // The lock lapses before the second goes out: it is refused, not taken again.
    s.sock.receive({ type: 'lock', channel: 'order:1', payload: { action: 'expired', lock: lock('u1', 7) } });
    await flush();
    release!();
    await first;
    expect(await second).toBe('LOCK_REQUIRED');
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);

    // And a change pushed without it, queued behind one pushed with it, takes the lock.
    const third = s.manager
      .pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'c', after: 3 }, { noAutoLock: true })
      .then(() => 'ok', (e: { code: string }) => e.code);
    const fourth = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'd', after: 4 });
    expect(await third).toBe('LOCK_REQUIRED');
    await expect(fourth).resolves.toMatchObject({ path: 'd' });
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
  });

  it('applies a change once when its own event arrives before its ack', async () => {
    let held: SentFrame | undefined;
    const s = await setup((sock, f, st) => {
      if (f.type === 'change') {
        held = f; // acked below
        return true;
      }
      if (f.type !== 'sync') return;
      st.server.ack(sock, f, {
        strategy: 'crdt', version: 1, snapshot: true, document: { stock: 10 }, changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null,
      });
      return true;
    });
    await s.manager.startSync('inventory', 'sku-9');
    const p = s.manager.pushChange({ entityType: 'inventory', entityId: 'sku-9', operation: 'increment', path: 'stock', delta: 5 });
    await flush();
    expect(s.manager.getState('inventory', 'sku-9').document).toEqual({ stock: 15 }); // optimistic
    const accepted: Change = {
      id: 'inventory:sku-9:2', entityType: 'inventory', entityId: 'sku-9', userId: 'u1', operation: 'increment', path: 'stock',
      before: 10, after: 15, timestamp: new Date().toISOString(), resolved: true, version: 2, messageId: held!.messageId,
    };
    s.sock.receive({ type: 'change', channel: 'inventory:sku-9', userId: 'u1', payload: accepted });
    await flush();
    expect(s.manager.getState('inventory', 'sku-9').document).toEqual({ stock: 15 });
    expect(s.manager.getState('inventory', 'sku-9').localChanges).toHaveLength(1); // settles on its ack
    s.server.ack(s.sock, held!, { outcome: 'applied', applied: true, version: 2, change: accepted });
    await expect(p).resolves.toMatchObject({ version: 2 });
    expect(s.manager.getState('inventory', 'sku-9')).toMatchObject({ document: { stock: 15 }, version: 2, localChanges: [] });
  });

  it('settles every local change with CLIENT_DESTROYED when the client is destroyed', async () => {
    const s = await setup((_sock, f) => f.type === 'change'); // never acked
    await s.manager.startSync('order', '1');
    const first = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'status', after: 'paid' });
    const second = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'notes', after: 'n' });
    await flush();
    const codes: string[] = [];
    for (const p of [first, second]) p.then(() => codes.push('ok'), (e: { code: string }) => codes.push(e.code));
    s.client.destroy();
    await flush();
    expect(codes).toEqual(['CLIENT_DESTROYED', 'CLIENT_DESTROYED']);
    expect(s.manager.getState('order', '1').localChanges).toHaveLength(0);
  });

  describe('a local change waiting for a sync or for the connection settles when the client or the manager goes', () => {
    const codes: string[] = [];
    const push = (s: Setup, path: string, operation: 'update' | 'delete' = 'update', options = {}): void => {
      s.manager
        .pushChange({ entityType: 'order', entityId: '1', operation, path, after: operation === 'delete' ? undefined : 'x' }, options)
        .then(() => codes.push('ok'), (e: { code: string }) => codes.push(e.code));
    };
    beforeEach(() => {
      codes.length = 0;
    });

    it('client.destroy() rejects updates pushed before the first sync answered with CLIENT_DESTROYED', async () => {
      const s = await setup((_sock, f) => f.type === 'sync'); // never answered
      void s.manager.startSync('order', '1');
      await flush();
      push(s, 'status'); // waits for the first sync to decide its parent lift
      push(s, 'notes');
      await flush();
      s.client.destroy();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(codes).toEqual(['CLIENT_DESTROYED', 'CLIENT_DESTROYED']);
      expect(s.manager.getState('order', '1').localChanges).toHaveLength(0);
    });

    it('client.destroy() rejects a change waiting for the connection after a retryable error with CLIENT_DESTROYED', async () => {
      const s = await setup((sock, f, st) => {
        if (f.type !== 'change') return;
        st.server.error(sock, f, 'UNAVAILABLE', { retryable: true });
        sock.serverClose(1006); // and the connection drops
        return true;
      });
      await s.manager.startSync('order', '1');
      push(s, 'status', 'delete', { noAutoLock: true });
      await flush();
      s.client.destroy();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(codes).toEqual(['CLIENT_DESTROYED']);
    });

    it('stopSync settles a change waiting to be sent again after a retryable error with that error', async () => {
      const sent: SentFrame[] = [];
      const s = await setup((sock, f, st) => {
        if (f.type !== 'change') return;
        sent.push(f);
        st.server.error(sock, f, 'UNAVAILABLE', { retryable: true });
        return true;
      });
      await s.manager.startSync('order', '1');
      push(s, 'status', 'delete', { noAutoLock: true });
      await flush();
      s.manager.stopSync('order', '1');
      await flush();
      // Not "NOT_FOLLOWING" (it was sent; the server's answer stands), and not sent again.
      expect(codes).toEqual(['UNAVAILABLE']);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(sent).toHaveLength(1);
    });

    it('manager.destroy() rejects a change waiting for the first sync with NOT_FOLLOWING', async () => {
      const s = await setup((_sock, f) => f.type === 'sync'); // never answered
      void s.manager.startSync('order', '1');
      await flush();
      push(s, 'status');
      await flush();
      s.manager.destroy();
      await flush();
      expect(codes).toEqual(['NOT_FOLLOWING']);
    });

    it('manager.destroy() rejects a change not sent yet that waits on a sync under way with NOT_FOLLOWING, and sends nothing', async () => {
      const changes: SentFrame[] = [];
      let syncs = 0;
      const s = await setup((_sock, f) => {
        if (f.type === 'change') changes.push(f);
        return f.type === 'change' || (f.type === 'sync' && ++syncs > 1); // the second sync is never answered
      });
      await s.manager.startSync('order', '1');
      s.sock.receive({ type: 'change', channel: 'order:1', payload: change(2, 'notes', 'n') }); // a gap: a sync starts
      await flush();
      push(s, 'status', 'delete', { noAutoLock: true });
      await flush();
      s.manager.destroy();
      await flush();
      expect(codes).toEqual(['NOT_FOLLOWING']);
      expect(changes).toEqual([]);
    });
  });

  it('settles every local change when stopSync stops following the entity', async () => {
    const held: SentFrame[] = [];
    const s = await setup((_sock, f) => {
      if (f.type !== 'change') return;
      held.push(f);
      return true; // answered below, or never
    });
    await s.manager.startSync('order', '1');
    const settled: string[] = [];
    const track = (name: string, p: Promise<Change>): void => {
      p.then(() => settled.push(`${name} ok`), (e: { code: string }) => settled.push(`${name} ${e.code}`));
    };
    track('first', s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'a', after: 1 }));
    track('second', s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'b', after: 2 }));
    await flush();
    s.manager.stopSync('order', '1');
    await flush();
    expect(settled).toEqual(['second NOT_FOLLOWING']); // never sent
    s.server.ack(s.sock, held[0]!, { outcome: 'applied', applied: true, version: 1, change: { ...change(1, 'a', 1, 'u1'), messageId: held[0]!.messageId } });
    await flush();
    expect(settled).toEqual(['second NOT_FOLLOWING', 'first ok']);

    // A change in flight whose reply never comes is not sent again.
    await s.manager.startSync('order', '1');
    track('third', s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'c', after: 3 }));
    await flush();
    s.manager.stopSync('order', '1');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(settled).toEqual(['second NOT_FOLLOWING', 'first ok', 'third TIMEOUT']);
    expect(held).toHaveLength(2); // the first and the third, once each
  });

  it('creates missing parent objects in the same change', async () => {
    const s = await setup((sock, f, st) => {
      if (f.type !== 'change') return;
      st.server.ack(sock, f, { outcome: 'applied', applied: true, version: 1, change: { ...change(1, 'customer', { name: 'A' }, 'u1') } });
      return true;
    });
    await s.manager.startSync('order', '1');
    await s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'customer.name', after: 'A' });
    expect(s.server.framesOfType('change')[0]?.payload).toMatchObject({ path: 'customer', after: { name: 'A' } });
    expect(s.manager.getState('order', '1').document).toEqual({ customer: { name: 'A' } });
  });

  it('decides whether to create missing parents on the synced document, not the empty one before it', async () => {
    const sent: Record<string, unknown>[] = [];
    const s = await setup((sock, f, st) => {
      if (f.type === 'sync') {
        st.server.ack(sock, f, {
          strategy: 'last-write-wins', version: 1, snapshot: true, document: { customer: { name: 'Old', email: 'a@b.c' } },
          changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null,
        });
        return true;
      }
      if (f.type !== 'change') return;
      const p = f.payload as Record<string, unknown>;
      sent.push(p);
      if (sent.length === 1) {
        st.server.error(sock, f, 'VERSION_CONFLICT');
        return true;
      }
      st.server.ack(sock, f, { outcome: 'applied', applied: true, version: 2, change: { ...change(2, String(p['path']), p['after'], 'u1'), messageId: f.messageId } });
      return true;
    });
    // A component mounts and the user types before the first sync is done:
    // the document is still empty, but the server's has a customer.
    const started = s.manager.startSync('order', '1');
    const pushed = s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'customer.name', after: 'New' });
    await started;
    await pushed;
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ baseVersion: 1, operation: 'update', path: 'customer.name', after: 'New' });
    const { baseVersion: _b0, ...first } = sent[0]!;
    const { baseVersion: _b1, ...again } = sent[1]!;
    expect(again).toEqual(first); // a resend asks for the same change
    expect(s.manager.getState('order', '1').document).toEqual({ customer: { name: 'New', email: 'a@b.c' } });
  });

  it('sends a change that creates missing parents the same way on every attempt', async () => {
    const sent: Record<string, unknown>[] = [];
    const s = await setup((sock, f, st) => {
      if (f.type === 'sync') {
        // Another user created the customer meanwhile (version 1).
        const doc = sent.length === 0 ? {} : { customer: { email: 'a@b.c' } };
        st.server.ack(sock, f, {
          strategy: 'last-write-wins', version: sent.length === 0 ? 0 : 1, snapshot: true, document: doc,
          changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null,
        });
        return true;
      }
      if (f.type !== 'change') return;
      sent.push(f.payload as Record<string, unknown>);
      if (sent.length === 1) {
        st.server.error(sock, f, 'VERSION_CONFLICT');
        return true;
      }
      st.server.ack(sock, f, { outcome: 'applied', applied: true, version: 2, change: { ...change(2, 'customer', { name: 'N' }, 'u1'), messageId: f.messageId } });
      return true;
    });
    await s.manager.startSync('order', '1');
    await s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'customer.name', after: 'N' });
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ baseVersion: 0, operation: 'update', path: 'customer', after: { name: 'N' } });
    // The server keeps the first attempt's request: another under the same messageId is IDEMPOTENCY_MISMATCH.
    expect(sent[1]).toEqual({ ...sent[0], baseVersion: 1 });
  });

  it('follows lock events and reports a lock held by another user', async () => {
    const s = await setup();
    await s.manager.startSync('order', '1');
    s.sock.receive({ type: 'lock', channel: 'order:1', payload: { action: 'acquired', lock: lock('u2', 3) } });
    await flush();
    expect(s.manager.getState('order', '1')).toMatchObject({ isLocked: true, lockedByMe: false });
    s.sock.receive({ type: 'lock', channel: 'order:1', payload: { action: 'released', lock: lock('u2', 3) } });
    await flush();
    expect(s.manager.getState('order', '1').lock).toBeNull();
  });

  it('does not take a lock again after a reconnect when it was released while its renewal was in flight', async () => {
    let renew: SentFrame | undefined;
    const s = await setup((sock, f, st) => {
      if (f.type === 'lock.renew') {
        renew = f; // answered when the release comes: the server handled the renewal first
        return true;
      }
      if (f.type === 'lock.release' && renew !== undefined) {
        st.server.ack(sock, renew, { lock: lock('u1', 7) });
        st.server.ack(sock, f, { released: true, lock: lock('u1', 7) });
        return true;
      }
      return false;
    });
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    await vi.advanceTimersByTimeAsync(15_000); // renewed at half the lifetime
    expect(renew).toBeDefined();
    await s.manager.releaseLock('order', '1');
    await flush();
    expect(s.manager.getState('order', '1').lock).toBeNull();
    s.sock.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    FakeWebSocket.last.open();
    await flush();
    await flush();
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
    expect(s.manager.getState('order', '1').lockedByMe).toBe(false);
  });

  it('acquireLock for an entity not followed follows it while the lock is held: renewed, then released with it', async () => {
    // The sync of the new follow reports the lock, as the server does.
    let held = false;
    const s = await setup((sock, f, st) => {
      if (f.type === 'lock.acquire') held = true;
      if (f.type === 'lock.release') held = false;
      if (f.type !== 'sync') return false;
      st.server.ack(sock, f, { strategy: 'lock-based', version: 0, snapshot: true, document: {}, changes: [], hasMore: false,
        nextSinceVersion: 0, conflicts: [], lock: held ? lock('u1', 7) : null });
      return true;
    });
    expect(await s.manager.acquireLock('order', '1')).toMatchObject({ fencingToken: 7 });
    await flush();
    expect(s.manager.entities).toEqual(['order:1']);
    expect(s.manager.getState('order', '1').lockedByMe).toBe(true);
    await vi.advanceTimersByTimeAsync(15_000); // renewed at half the lifetime
    expect(s.server.framesOfType('lock.renew')).toHaveLength(1);
    await s.manager.releaseLock('order', '1');
    await flush();
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    expect(s.manager.entities).toEqual([]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.server.framesOfType('lock.renew')).toHaveLength(1);
  });

  it('a startSync after acquireLock for an entity not followed takes the follow over: its stopSync releases the lock', async () => {
    const s = await setup();
    await s.manager.acquireLock('order', '1');
    await s.manager.startSync('order', '1');
    s.manager.stopSync('order', '1');
    await flush();
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    expect(s.manager.entities).toEqual([]);
  });

  it('acquireLock for an entity not followed that another user holds leaves it not followed', async () => {
    const s = await setup((sock, f, st) => {
      if (f.type !== 'lock.acquire') return false;
      st.server.error(sock, f, 'LOCK_HELD', { details: { lock: lock('u2', 8) } });
      return true;
    });
    expect(await s.manager.acquireLock('order', '1')).toBeNull();
    await flush();
    expect(s.manager.entities).toEqual([]);
  });

  it('an entity followed only for its lock is let go when this user releases the lock in another tab', async () => {
    const s = await setup();
    await s.manager.acquireLock('order', '1');
    s.sock.receive({ type: 'lock', channel: 'order:1', payload: { action: 'released', reason: 'released', lock: lock('u1', 7) } });
    await flush();
    expect(s.manager.entities).toEqual([]);
    expect(s.server.framesOfType('lock.release')).toHaveLength(0);
  });

  it('does not keep a lock granted after releaseLock was called', async () => {
    let acquire: SentFrame | undefined;
    const s = await setup((_sock, f) => {
      if (f.type !== 'lock.acquire') return;
      acquire = f; // answered after the release was sent
      return true;
    });
    await s.manager.startSync('order', '1');
    const acquired = s.manager.acquireLock('order', '1');
    await flush();
    const released = s.manager.releaseLock('order', '1');
    s.server.ack(s.sock, acquire!, { lock: lock('u1', 7) });
    await flush();
    expect(await acquired).toBeNull();
    await released;
    expect(s.manager.getState('order', '1').lock).toBeNull();
    s.sock.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    FakeWebSocket.last.open();
    await flush();
    await flush();
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
  });


  it('sends one lock.release for a releaseLock and a stopSync while it is in flight, and a stopSync after a later acquire sends its own', async () => {
    let hold = true;
    const held: SentFrame[] = [];
    const s = await setup((_sock, f) => {
      if (f.type !== 'lock.release' || !hold) return;
      held.push(f); // answered later
      return true;
    });
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    const released = s.manager.releaseLock('order', '1');
    s.manager.stopSync('order', '1'); // a useLock that was the last follower unmounts
    await flush();
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    s.server.ack(s.sock, held[0]!, { released: true, lock: lock('u1', 7) });
    await released;

    // A release in flight does not cover a lock asked for after it, which
    // goes out once the release is answered.
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    void s.manager.releaseLock('order', '1');
    hold = false;
    await acquireAfter(s, held[1]!);
    s.manager.stopSync('order', '1');
    await flush();
    expect(s.server.framesOfType('lock.release')).toHaveLength(3);
  });

  /**
   * Takes order:1's lock while the lock.release `release` is unanswered: its
   * lock.acquire goes out once the test answers the release, not before.
   */
  async function acquireAfter(s: Setup, release: SentFrame): Promise<void> {
    const sent = s.server.framesOfType('lock.acquire').length;
    const acquired = s.manager.acquireLock('order', '1');
    await flush();
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(sent);
    s.server.ack(FakeWebSocket.last, release, { released: true, lock: lock('u1', 7) });
    expect(await acquired).not.toBeNull();
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(sent + 1);
  }

  /** order:1 followed with its lock held, on a server that answers no lock.release (`held`) until the test does. */
  async function lockedHoldingReleases(): Promise<{ s: Setup; held: SentFrame[] }> {
    const held: SentFrame[] = [];
    const s = await setup((_sock, f) => {
      if (f.type !== 'lock.release') return;
      held.push(f);
      return true;
    });
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    return { s, held };
  }

  it("sends one lock.release for a stopSync of the last follower and a releaseLock after it (Example 1's cleanup)", async () => {
    const { s, held } = await lockedHoldingReleases();
    s.manager.stopSync('order', '1'); // the last follower: releases the lock
    let released = false;
    const release = s.manager.releaseLock('order', '1').then(() => (released = true));
    await flush();
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    // releaseLock waits for that release's answer.
    expect(released).toBe(false);
    s.server.ack(s.sock, held[0]!, { released: true, lock: lock('u1', 7) });
    await release;
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);

    // Once it is answered, a releaseLock sends its own.
    void s.manager.releaseLock('order', '1');
    await flush();
    expect(s.server.framesOfType('lock.release')).toHaveLength(2);
  });

  it("a releaseLock waiting for a stopSync's release whose connection drops before the reply sends its own, and resolves", async () => {
    const { s, held } = await lockedHoldingReleases();
    s.manager.stopSync('order', '1'); // the last follower: releases the lock
    let out = 'pending';
    s.manager.releaseLock('order', '1').then(() => (out = 'released'), (e: { code: string }) => (out = e.code));
    // A second one waiting for the same release shares the first one's.
    let second = 'pending';
    s.manager.releaseLock('order', '1').then(() => (second = 'released'), (e: { code: string }) => (second = e.code));
    await flush();
    expect(held).toHaveLength(1);
    s.sock.serverClose(1006); // before the reply
    await vi.advanceTimersByTimeAsync(2_000);
    FakeWebSocket.last.open();
    await flush();
    await flush();
    // Its own release went out on the next connection.
    expect(held).toHaveLength(2);
    expect(held[1]!.payload).toEqual({ entityType: 'order', entityId: '1' });
    expect(out).toBe('pending');
    s.server.ack(FakeWebSocket.last, held[1]!, { released: true, lock: lock('u1', 7) });
    await flush();
    expect(out).toBe('released');
    expect(second).toBe('released');
    expect(held).toHaveLength(2);
  });

  it("a releaseLock waiting for a stopSync's release that fails sends its own before a lock asked for after it", async () => {
    const { s, held } = await lockedHoldingReleases();
    s.manager.stopSync('order', '1');
    let out = 'pending';
    s.manager.releaseLock('order', '1').then(() => (out = 'released'), (e: { code: string }) => (out = e.code));
    await flush();
    // Followed again and the lock asked for again: the lock.acquire waits for the release.
    await s.manager.startSync('order', '1');
    const acquired = s.manager.acquireLock('order', '1');
    await flush();
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
    s.sock.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    FakeWebSocket.last.open();
    await flush();
    await flush();
    // The releaseLock's own release went out on the next connection; the acquire waits for its answer.
    expect(held).toHaveLength(2);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
    s.server.ack(FakeWebSocket.last, held[1]!, { released: true, lock: lock('u1', 7) });
    expect(await acquired).not.toBeNull();
    expect(out).toBe('released');
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
    expect(s.manager.getState('order', '1').lockedByMe).toBe(true);
  });

  it('a releaseLock after a stopSync made offline sends its release on the next connection, and another one waits for it', async () => {
    const s = await setup();
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    s.sock.serverClose(1006);
    await flush();
    s.manager.stopSync('order', '1'); // its release cannot be written
    const released: number[] = [];
    void s.manager.releaseLock('order', '1').then(() => released.push(1));
    // Another component's, on the entity no longer followed: a second
    // release could let go of a lock this user takes meanwhile in another tab.
    void s.manager.releaseLock('order', '1').then(() => released.push(2));
    await vi.advanceTimersByTimeAsync(2_000);
    FakeWebSocket.last.open();
    await vi.advanceTimersByTimeAsync(100);
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    expect(released).toEqual([1, 2]);
  });

  it("a lock asked for again after a stopSync's release goes out once that is answered, and a releaseLock then sends its own", async () => {
    const { s, held } = await lockedHoldingReleases();
    s.manager.stopSync('order', '1');
    await flush();
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    await s.manager.startSync('order', '1');
    await acquireAfter(s, held[0]!);
    // That grant needs a release of its own.
    void s.manager.releaseLock('order', '1');
    await flush();
    expect(s.server.framesOfType('lock.release')).toHaveLength(2);
  });
  describe('autoResolveConflicts', () => {
    /** A manual entity whose server turns every change into conflict c1, reported by the ack and by a conflict event. */
    async function conflicting(onResolve: (sock: FakeWebSocket, f: SentFrame, st: Setup, conflict: Conflict) => void) {
      const conflict: Conflict = {
        id: 'c1', entityType: 'order', entityId: '1', path: 'price', resolutionStrategy: 'manual', resolved: false,
        localChange: { ...change(0, 'price', 105, 'u1'), id: 'pending-1', resolved: false },
        remoteChange: change(1, 'price', 110, 'u2'),
      };
      const s = await setup((sock, f, st) => {
        if (f.type === 'sync') {
          st.server.ack(sock, f, {
            strategy: 'manual', version: 1, snapshot: true, document: { price: 110 }, changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null,
          });
          return true;
        }
        if (f.type === 'change') {
          // Both authors get the conflict event; the writer also gets the ack with it.
          queueMicrotask(() => sock.receive({ type: 'conflict', channel: 'order:1', payload: conflict }));
          st.server.ack(sock, f, { entityType: 'order', entityId: '1', outcome: 'conflict', applied: false, version: 1, conflict });
          return true;
        }
        if (f.type === 'conflict.resolve') {
          onResolve(sock, f, st, conflict);
          return true;
        }
        return false;
      });
      s.manager = new RealtimeSyncManager({ client: s.client, loadHistory: false, autoResolveConflicts: 'local' });
      await s.manager.startSync('order', '1');
      await s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'price', after: 105 });
      await flush();
      await flush();
      return s;
    }

    it('settles a conflict once, although both the ack and the conflict event report it', async () => {
      const resolves: SentFrame[] = [];
      const s = await conflicting((sock, f, st, conflict) => {
        resolves.push(f);
        if (resolves.length > 1) {
          st.server.error(sock, f, 'CONFLICT_RESOLVED', { details: { conflict: { ...conflict, resolved: true, resolution: 'local' } } });
          return;
        }
        st.server.ack(sock, f, {
          entityType: 'order', entityId: '1', outcome: 'applied', applied: true, version: 2,
          change: change(2, 'price', 105, 'u1'), conflict: { ...conflict, resolved: true, resolution: 'local' },
        });
      });
      expect(resolves).toHaveLength(1);
      expect(s.manager.getState('order', '1')).toMatchObject({ error: null, document: { price: 105 }, version: 2 });
      expect(s.manager.getState('order', '1').conflicts[0]).toMatchObject({ id: 'c1', resolved: true });
    });

    it('takes CONFLICT_RESOLVED as the conflict settled, not as an error', async () => {
      // The other author settled it first.
      const s = await conflicting((sock, f, st, conflict) => {
        st.server.error(sock, f, 'CONFLICT_RESOLVED', { details: { conflict: { ...conflict, resolved: true, resolution: 'remote' } } });
      });
      expect(s.server.framesOfType('conflict.resolve')).toHaveLength(1);
      expect(s.manager.getState('order', '1').error).toBeNull();
      expect(s.manager.getState('order', '1').conflicts[0]).toMatchObject({ id: 'c1', resolved: true, resolution: 'remote' });
    });
  });

  // An idle state (getState of an entity not followed: the same object until
  // it changes, as useSyncExternalStore needs) is kept while something
  // subscribes to the entity, and otherwise only the last one handed out:
  // not one for every entity ever followed.
  it('startSync and stopSync without subscribers keep no idle state, nor a sync of an entity no longer followed', async () => {
    const s = await setup();
    for (let i = 0; i < 20; i++) {
      await s.manager.startSync('order', String(i));
      s.manager.stopSync('order', String(i));
    }
    expect(idleStates(s.manager)).toBeLessThanOrEqual(1); // the last one handed out, at most
    // Let go of before the first sync ran: startSync resolves with the idle state.
    for (let i = 20; i < 40; i++) {
      const first = s.manager.startSync('order', String(i));
      s.manager.stopSync('order', String(i));
      await expect(first).resolves.toMatchObject({ syncState: 'idle' });
      await s.manager.sync('order', String(i));
    }
    expect(idleStates(s.manager)).toBeLessThanOrEqual(1);
  });

  it('an entity subscribed to keeps one idle state, the same object, after stopSync, until the last subscriber goes', async () => {
    const s = await setup();
    const seen: unknown[] = [];
    const off1 = s.manager.subscribeEntity('order', '1', () => seen.push(s.manager.getState('order', '1')));
    const off2 = s.manager.subscribeEntity('order', '1', () => {});
    await s.manager.startSync('order', '1');
    s.manager.stopSync('order', '1');
    const idle = s.manager.getState('order', '1');
    expect(idle).toMatchObject({ syncState: 'idle', version: 0 });
    expect(seen[seen.length - 1]).toBe(idle);
    expect(s.manager.getState('order', '1')).toBe(idle);
    off1();
    expect(s.manager.getState('order', '1')).toBe(idle);
    off2();
    expect(idleStates(s.manager)).toBe(0);
  });

  it('catches up after a reconnect', async () => {
    const s = await setup();
    await s.manager.startSync('order', '1');
    s.sock.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(s.manager.getState('order', '1').syncState).toBe('offline');
    FakeWebSocket.last.open();
    await flush();
    await flush();
    expect(s.server.framesOfType('sync')).toHaveLength(2);
    expect(s.manager.getState('order', '1').syncState).toBe('synced');
  });

  it('loads a history longer than one page in pages of at most 100, following nextBefore', async () => {
    const limits: unknown[] = [];
    const s = await setup((sock, f) => {
      if (f.type !== 'history') return false;
      const p = (f.payload ?? {}) as { limit?: number; before?: number };
      limits.push(p.limit);
      if (typeof p.limit !== 'number' || p.limit < 0 || p.limit > 100) {
        s.server.error(sock, f, 'BAD_REQUEST');
        return true;
      }
      // 250 changes kept; newest first, below `before`.
      const top = (p.before ?? 251) - 1;
      const changes = [];
      for (let v = top; v >= 1 && changes.length < p.limit; v--) changes.push(change(v, 'n', v));
      const last = changes[changes.length - 1]?.version ?? 1;
      s.server.ack(sock, f, { version: 250, changes, hasMore: last > 1, ...(last > 1 ? { nextBefore: last } : {}) });
      return true;
    });
    s.manager = new RealtimeSyncManager({ client: s.client, loadHistory: false, historyLimit: 230 });
    await s.manager.startSync('order', '1');
    const history = await s.manager.loadHistory('order', '1');
    expect(limits).toEqual([100, 100, 30]);
    expect(history.map((c) => c.version)).toEqual(Array.from({ length: 230 }, (_, i) => 250 - i));
    expect(s.manager.getState('order', '1').error).toBeFalsy();
  });
});
