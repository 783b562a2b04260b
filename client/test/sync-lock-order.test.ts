import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { RealtimeError } from '../src/index.js';
import { flush, lock, reconnect, setup, type Setup } from './sync-harness.js';

// A lock belongs to the user and lock.release carries no fencing token: the
// server's release lets go of whatever lock the user holds on the entity.
// The server does not keep one connection's messages in order, so a
// lock.acquire sent while a release is in flight may be run before it, and
// the release then lets the new grant go.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * A server that runs a lock.release `delay.ms` (100) after it arrives and
 * answers it then, and every other lock request at once: a lock.acquire sent
 * meanwhile is run first. `holder.u` is the user holding order:1's lock on
 * the server. `hold` keeps lock.acquire requests unanswered in `acquires`
 * while set. Changes are never answered.
 */
async function reordering(): Promise<{
  s: Setup;
  holder: { u: string | null };
  acquires: SentFrame[];
  hold: { on: boolean };
  delay: { ms: number };
}> {
  const holder: { u: string | null } = { u: null };
  const acquires: SentFrame[] = [];
  const hold = { on: false };
  const delay = { ms: 100 };
  const s = await setup((sock, f, st) => {
    switch (f.type) {
      case 'lock.acquire':
        if (hold.on) {
          acquires.push(f);
          return true;
        }
        holder.u = 'u1';
        st.server.ack(sock, f, { renewed: false, lock: lock('u1', 7) });
        return true;
      case 'lock.renew':
        if (holder.u === 'u1') st.server.ack(sock, f, { lock: lock('u1', 7) });
        else st.server.error(sock, f, 'NOT_LOCK_HOLDER');
        return true;
      case 'lock.release':
        setTimeout(() => {
          holder.u = null;
          st.server.ack(sock, f, { released: true, lock: lock('u1', 7) });
        }, delay.ms);
        return true;
      case 'change':
        return true;
    }
    return false;
  });
  return { s, holder, acquires, hold, delay };
}

/**
 * Follows order:1 again and takes its lock, letting `ms` pass for the
 * releases in flight to run: the grant is kept, and held on the server.
 */
async function followAndTake(s: Setup, holder: { u: string | null }, ms: number): Promise<void> {
  void s.manager.startSync('order', '1');
  const acquired = s.manager.acquireLock('order', '1');
  await vi.advanceTimersByTimeAsync(ms);
  expect(await acquired).toMatchObject({ lockedBy: 'u1' });
  await flush();
  expect(holder.u).toBe('u1');
  expect(s.manager.getState('order', '1').lockedByMe).toBe(true);
}

describe('RealtimeSyncManager lock.acquire after a lock.release', () => {
  it('an acquireLock right after releaseLock goes out once the release is answered, and keeps its grant', async () => {
    const { s, holder } = await reordering();
    await s.manager.startSync('order', '1');
    expect(await s.manager.acquireLock('order', '1')).not.toBeNull();
    const released = s.manager.releaseLock('order', '1');
    const acquired = s.manager.acquireLock('order', '1');
    await vi.advanceTimersByTimeAsync(100);
    await released;
    expect(await acquired).toMatchObject({ lockedBy: 'u1' });
    await flush();
    expect(holder.u).toBe('u1');
    await vi.advanceTimersByTimeAsync(15_000); // renewed at half the lifetime
    expect(s.server.framesOfType('lock.renew')).toHaveLength(1);
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, error: null });
  });

  it("a remount's acquireLock right after the last stopSync released the lock keeps its grant", async () => {
    const { s, holder } = await reordering();
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    s.manager.stopSync('order', '1'); // the last follower: releases the lock
    await followAndTake(s, holder, 100);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
  });

  it("a write's own lock.acquire (autoLock) right after releaseLock goes out once the release is answered", async () => {
    const { s, holder } = await reordering();
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    s.sock.receive({ type: 'lock', channel: 'order:1', payload: { action: 'expired', lock: lock('u1', 7) } });
    await flush();
    expect(s.manager.getState('order', '1').expiredLock).not.toBeNull();
    void s.manager.releaseLock('order', '1');
    void s.manager.pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'status', after: 'paid' });
    await vi.advanceTimersByTimeAsync(100);
    await flush();
    expect(holder.u).toBe('u1');
    expect(s.manager.getState('order', '1').lockedByMe).toBe(true);
    expect(s.server.framesOfType('change')).toHaveLength(1);
  });

  it('an acquireLock waits for the release of a grant that came after stopSync', async () => {
    const { s, holder, acquires, hold } = await reordering();
    await s.manager.startSync('order', '1');
    hold.on = true;
    const first = s.manager.acquireLock('order', '1');
    await flush();
    s.manager.stopSync('order', '1'); // before the grant: it is released when it comes
    hold.on = false;
    s.server.ack(s.sock, acquires[0]!, { renewed: false, lock: lock('u1', 7) });
    holder.u = 'u1';
    expect(await first).toBeNull();
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    await followAndTake(s, holder, 100);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
  });

  it('an acquireLock waits for both releases in flight: the last stopSync\'s and that of a grant that came after it', async () => {
    const { s, holder, acquires, hold, delay } = await reordering();
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    hold.on = true;
    const again = s.manager.acquireLock('order', '1'); // held already: renews it
    await flush();
    delay.ms = 200;
    s.manager.stopSync('order', '1'); // releases the lock held; run in 200 ms
    await flush();
    hold.on = false;
    delay.ms = 50;
    s.server.ack(s.sock, acquires[0]!, { renewed: true, lock: lock('u1', 7) });
    expect(await again).toBeNull(); // granted after stopSync: released, run in 50 ms
    expect(s.server.framesOfType('lock.release')).toHaveLength(2);
    await followAndTake(s, holder, 200);
  });

  it("a reconnect's re-take waits for the release of a grant that came after stopSync", async () => {
    // The first lock.acquire is answered only on the second connection (it
    // is sent again there), after stopSync let go of the entity that asked
    // for it; the first re-take of the lock a new follow took meanwhile is
    // refused with UNAVAILABLE; a release runs and is answered 2 s after it
    // arrives.
    let first: SentFrame | undefined;
    let refused = false;
    const holder: { u: string | null } = { u: null };
    const s = await setup((sock, f, st) => {
      switch (f.type) {
        case 'lock.acquire':
          if (first === undefined) {
            first = f;
            return true;
          }
          if (f.messageId === first.messageId) {
            holder.u = 'u1';
            st.server.ack(sock, f, { renewed: false, lock: lock('u1', 7) });
            return true;
          }
          if (sock !== st.sock && !refused) {
            refused = true;
            st.server.error(sock, f, 'UNAVAILABLE', { retryable: true });
            return true;
          }
          st.server.ack(sock, f, { renewed: holder.u === 'u1', lock: lock('u1', 7) });
          holder.u = 'u1';
          return true;
        case 'lock.release':
          setTimeout(() => {
            holder.u = null;
            st.server.ack(sock, f, { released: true, lock: lock('u1', 7) });
          }, 2_000);
          return true;
      }
      return false;
    });
    await s.manager.startSync('order', '1');
    const asked = s.manager.acquireLock('order', '1');
    await flush();
    s.manager.stopSync('order', '1');
    await s.manager.startSync('order', '1');
    expect(await s.manager.acquireLock('order', '1')).not.toBeNull();
    await reconnect();
    expect(refused).toBe(true); // the re-take waits for its backoff (1 s)
    expect(await asked).toBeNull(); // the first grant came: its release went out
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    await flush();
    expect(holder.u).toBe('u1');
    expect(s.manager.getState('order', '1').lockedByMe).toBe(true);
  });

  it('an acquireLock waiting for a release sends nothing and resolves with null once releaseLock is called', async () => {
    const { s, holder } = await reordering();
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1');
    void s.manager.releaseLock('order', '1');
    const acquired = s.manager.acquireLock('order', '1');
    const released = s.manager.releaseLock('order', '1'); // waits for the release in flight
    await vi.advanceTimersByTimeAsync(100);
    await released;
    expect(await acquired).toBeNull();
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1);
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    expect(holder.u).toBeNull();
    expect(s.manager.getState('order', '1').lockedByMe).toBe(false);
  });

  it('with requestTimeout 0, an acquireLock after a release whose reply is lost goes out once the release gave up after the default requestTimeout', async () => {
    const s = await setup(
      (sock, f) => {
        if (f.type !== 'lock.release') return false;
        // API Gateway answers a failed invocation with an error frame that
        // names no request.
        sock.receive({ type: 'error', payload: { code: 'INTERNAL', message: 'Internal server error' } });
        return true;
      },
      { requestTimeout: 0 },
    );
    s.client.on('error', () => {});
    await s.manager.startSync('order', '1');
    expect(await s.manager.acquireLock('order', '1')).toMatchObject({ lockedBy: 'u1' });
    let released = 'pending';
    s.manager.releaseLock('order', '1').then(() => (released = 'ok'), (e: RealtimeError) => (released = e.code));
    const acquired = s.manager.acquireLock('order', '1');
    await vi.advanceTimersByTimeAsync(10_000 - 1);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(1); // waits for the release
    await vi.advanceTimersByTimeAsync(1);
    expect(released).toBe('TIMEOUT');
    expect(await acquired).toMatchObject({ lockedBy: 'u1' });
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
    // The release gave up is not sent again on the next connection, where
    // it would let the new grant go.
    await reconnect();
    expect(s.server.framesOfType('lock.release')).toHaveLength(1);
    expect(s.manager.getState('order', '1').lockedByMe).toBe(true);
  });
});
