import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeWebSocket } from './fake-websocket.js';
import { reconnect, setup, type Setup } from './sync-harness.js';

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
