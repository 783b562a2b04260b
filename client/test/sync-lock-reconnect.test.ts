import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeWebSocket } from './fake-websocket.js';
import { flush, lock, reconnect, setup, type Setup } from './sync-harness.js';
import type { SentFrame } from './fake-websocket.js';

// A held lock is taken again after a reconnect (the server releases a
// closed connection's locks): what happens when that fails.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * Order 1 followed with the lock held; then the connection drops and the
 * next one opens. `refuse` answers the lock.acquire requests after the first
 * (the re-takes), one per element, with that error (null: no reply, the
 * request times out); later ones are granted.
 */
async function reconnected(refuse: ({ code: string; retryable: boolean } | null)[]): Promise<Setup> {
  const s = await setup((sock, f, st) => {
    if (f.type !== 'lock.acquire' || st.server.framesOfType('lock.acquire').length === 1 || refuse.length === 0) return false;
    const err = refuse.shift();
    if (err !== null && err !== undefined) st.server.error(sock, f, err.code, { retryable: err.retryable });
    return true;
  });
  await s.manager.startSync('order', '1');
  expect(await s.manager.acquireLock('order', '1')).not.toBeNull();
  await reconnect();
  return s;
}

describe('RealtimeSyncManager lock re-take after a reconnect', () => {
  it.each(['UNAVAILABLE', 'INTERNAL'])('is tried again with backoff after %s', async (code) => {
    const s = await reconnected([{ code, retryable: true }, { code, retryable: true }]);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000); // the first backoff: at most 1 s
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(2_000); // the second: at most 2 s
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(4);
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, error: null });
    const renewals = s.server.framesOfType('lock.renew').length;
    await vi.advanceTimersByTimeAsync(15_000);
    expect(s.server.framesOfType('lock.renew').length).toBeGreaterThan(renewals); // renewed again
  });

  it('is tried again after a re-take that got no reply (TIMEOUT)', async () => {
    const s = await reconnected([null]);
    await vi.advanceTimersByTimeAsync(10_000); // the request timeout
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(3);
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, error: null });
  });

  it('is not tried again once the lock is released during the backoff', async () => {
    const s = await reconnected([{ code: 'UNAVAILABLE', retryable: true }]);
    await s.manager.releaseLock('order', '1');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
    expect(s.manager.getState('order', '1').lockedByMe).toBe(false);
  });

  it('reports a refusal that is not retryable in error, and no longer wants the lock', async () => {
    const s = await reconnected([{ code: 'TOO_MANY_LOCKS', retryable: false }]);
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: false, error: { code: 'TOO_MANY_LOCKS' } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
    expect(s.server.framesOfType('lock.renew')).toHaveLength(0);
    // Nor is it taken at the next reconnect.
    await reconnect();
    expect(s.server.framesOfType('lock.acquire')).toHaveLength(2);
    // Until the lock is taken again.
    expect(s.manager.getState('order', '1').error).toMatchObject({ code: 'TOO_MANY_LOCKS' });
    expect(await s.manager.acquireLock('order', '1')).not.toBeNull();
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, error: null });
  });
});

describe('RealtimeSyncManager lock renewal across a reconnect', () => {
  it.each([
    ['due after the drop', 12_000],
    ['in flight at the drop', 15_500],
  ])("does not renew the old connection's lock on the new one before the re-take is answered (renewal %s)", async (_when, dropAt) => {
    // On the new connection the re-take, the catch-up sync and a renewal
    // sent before the re-take's grant are answered by the test.
    const held: { acquire?: SentFrame; sync?: SentFrame; renew?: SentFrame } = {};
    let regranted = false;
    const s = await setup((sock, f, st) => {
      if (sock === st.sock) return f.type === 'lock.renew'; // the first connection: its renewal gets no reply
      if (f.type === 'lock.acquire' || (f.type === 'sync' && held.sync === undefined)) {
        held[f.type === 'sync' ? 'sync' : 'acquire'] = f;
        return true;
      }
      if (f.type !== 'lock.renew') return false;
      if (regranted) st.server.ack(sock, f, { lock: lock('u1', 8) });
      else held.renew = f;
      return true;
    });
    await s.manager.startSync('order', '1');
    await s.manager.acquireLock('order', '1'); // renewed 15 s later
    await vi.advanceTimersByTimeAsync(dropAt);
    s.sock.serverClose(1006);
    while (FakeWebSocket.last === s.sock) await vi.advanceTimersByTimeAsync(100);
    const next = FakeWebSocket.last;
    next.open();
    await flush();
    expect(held.acquire).toBeDefined();
    await vi.advanceTimersByTimeAsync(12_000); // past any renewal of the old connection's lock
    expect(next.framesOfType('lock.renew')).toHaveLength(0);

    // Had it gone out: the server released the old lock with its connection and
    // read the renewal before the re-take's grant, and its refusal, which names
    // the lock as it is then, is read after that grant.
    s.server.ack(next, held.acquire as SentFrame, { lock: lock('u1', 8) });
    await flush();
    regranted = true;
    if (held.renew !== undefined) s.server.error(next, held.renew, 'NOT_LOCK_HOLDER', { details: { lock: lock('u1', 8) } });
    s.server.ack(next, held.sync as SentFrame, { strategy: 'lock-based', version: 0, snapshot: false, changes: [],
      hasMore: false, nextSinceVersion: 0, conflicts: [], lock: lock('u1', 8) });
    await flush();
    const before = next.framesOfType('lock.renew').length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(next.framesOfType('lock.renew').length).toBeGreaterThan(before); // the new lock is renewed
    expect(s.manager.getState('order', '1')).toMatchObject({ lockedByMe: true, lock: { fencingToken: 8 } });
  });
});
