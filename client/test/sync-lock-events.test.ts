import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Lock } from '../src/index.js';
import { FakeWebSocket } from './fake-websocket.js';
import { flush, lock, reconnect, setup, type Setup } from './sync-harness.js';

// Lock events arrive in any order, and may come twice: the fencing token,
// which grows with every grant of the entity's lock, tells which is news.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

function lockEvent(s: Setup, action: LockAction, l: Lock): void {
  s.sock.receive({ type: 'lock', channel: 'order:1', payload: { action, entityType: 'order', entityId: '1', lock: l,
    ...(action === 'released' ? { reason: 'released' } : {}) } });
}

type LockAction = 'acquired' | 'renewed' | 'released' | 'expired';

/** The state of order 1, followed, after these events in this order. */
async function afterEvents(...events: [LockAction, Lock][]) {
  const s = await setup();
  await s.manager.startSync('order', '1');
  for (const [action, l] of events) lockEvent(s, action, l);
  await flush();
  return s.manager.getState('order', '1');
}

/** Order 1 followed with this user's lock (token 7) taken, then these events in this order. */
async function heldThen(...events: [LockAction, Lock][]): Promise<Setup> {
  const s = await setup();
  await s.manager.startSync('order', '1');
  await s.manager.acquireLock('order', '1');
  for (const [action, l] of events) lockEvent(s, action, l);
  await flush();
  return s;
}

describe('RealtimeSyncManager lock events', () => {
  it('a late renewed event of an older grant neither replaces the lock this user holds nor stops its renewal', async () => {
    const s = await setup(); // grants u1 the lock with token 7
    await s.manager.startSync('order', '1');
    // Ben held it (token 6), renewed it and released it; the renewal's event comes last.
    lockEvent(s, 'acquired', lock('u2', 6));
    lockEvent(s, 'released', lock('u2', 6));
    await flush();
    expect(await s.manager.acquireLock('order', '1')).toMatchObject({ fencingToken: 7 });
    lockEvent(s, 'renewed', lock('u2', 6));
    await flush();
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, isLocked: false, lock: { fencingToken: 7 } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.server.framesOfType('lock.renew')).toHaveLength(4); // at half of the 30 s lifetime
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, lock: { fencingToken: 7 } });
  });

  it("a repeated acquired event of an older grant does not replace another user's newer lock", async () => {
    const state = await afterEvents(
      ['acquired', lock('u2', 6)],
      ['released', lock('u2', 6)],
      ['acquired', lock('u3', 8)],
      ['acquired', lock('u2', 6)], // a repeat of the first
    );
    expect(state).toMatchObject({ isLocked: true, lock: { lockedBy: 'u3', fencingToken: 8 } });
  });

  it('a late renewed event of a grant whose end was seen does not show that lock again', async () => {
    const state = await afterEvents(['acquired', lock('u2', 6)], ['expired', lock('u2', 6)], ['renewed', lock('u2', 6)]);
    expect(state).toMatchObject({ isLocked: false, lock: null });
  });

  it('a lock this user released elsewhere (another tab) is not taken again at the next reconnect', async () => {
    // reason "released": by the holder, here from another connection
    const s = await heldThen(['released', lock('u1', 7)]);
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: false, lock: null });
    await reconnect();
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
    expect(s.manager.getState('order', '1').lockedByMe).toBe(false);
  });

  it('a lock of this user that expired is given up: shown as expired, neither renewed nor taken again at the next reconnect', async () => {
    // Not renewed in time (a background tab whose timers the browser held back): the sweeper announces it.
    const s = await heldThen(['expired', lock('u1', 7)]);
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: false, lock: null, expiredLock: { fencingToken: 7 } });
    await reconnect();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
    expect(s.server.framesOfType('lock.renew')).toHaveLength(0);
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: false, expiredLock: { fencingToken: 7 } });
    // Taken again by hand, it is held and no longer shown as expired.
    expect(await s.manager.acquireLock('order', '1')).toMatchObject({ fencingToken: 7 });
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, expiredLock: null });
  });

  it('an expired lock of an entity followed for its lock only stays shown until releaseLock, which then lets the entity go', async () => {
    // The sync the follow starts reports the lock it took, as the server does.
    const s = await setup((sock, f, t) => {
      if (f.type !== 'sync') return;
      t.server.ack(sock, f, { strategy: 'lock-based', version: 0, snapshot: true, document: {}, changes: [], hasMore: false,
        nextSinceVersion: 0, conflicts: [], lock: lock('u1', 7) });
      return true;
    });
    await s.manager.acquireLock('order', '1'); // not followed: followed for the lock
    await flush();
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true });
    lockEvent(s, 'expired', lock('u1', 7));
    await flush();
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: false, expiredLock: { fencingToken: 7 } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.manager.getState('order', '1')).toMatchObject({ expiredLock: { fencingToken: 7 } });
    expect(s.server.framesOfType('unsubscribe')).toHaveLength(0); // still followed, to show it
    await s.manager.releaseLock('order', '1');
    await flush();
    expect(s.manager.getState('order', '1')).toMatchObject({ expiredLock: null });
    expect(s.server.framesOfType('unsubscribe')).toHaveLength(1);
  });

  it('releaseLock after an expiry clears the lock shown as expired', async () => {
    const s = await heldThen(['expired', lock('u1', 7)]);
    await s.manager.releaseLock('order', '1');
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: false, expiredLock: null });
  });

  it('a released or expired event of an older grant does not clear the lock shown', async () => {
    const s = await heldThen(['released', lock('u2', 6)], ['expired', lock('u2', 6)]);
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, lock: { fencingToken: 7 } });
  });
});
