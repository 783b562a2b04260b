import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, type Conflict } from '../src/index.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { change, flush, setup, type Setup } from './sync-harness.js';

// The manager's own autoResolveConflicts after the server refuses or
// fails a conflict.resolve: each conflict is asked once; a temporary
// failure asks again after a backoff, a refusal never again.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Conflict c1 of u1 (this user), open. */
const open: Conflict = {
  id: 'c1', entityType: 'order', entityId: '1', path: 'price', resolutionStrategy: 'manual', resolved: false,
  localChange: { ...change(0, 'price', 105, 'u1'), id: 'pending-1', resolved: false },
  remoteChange: change(1, 'price', 110, 'u2'),
};

/**
 * A manual entity at version 1 whose every sync reports c1 while it is
 * open; `onResolve` answers conflict.resolve.
 */
async function following(onResolve: (sock: FakeWebSocket, f: SentFrame, st: Setup) => void): Promise<Setup> {
  const s = await setup((sock, f, st) => {
    if (f.type === 'sync') {
      st.server.ack(sock, f, {
        strategy: 'manual', version: 1, snapshot: true, document: { price: 110 }, changes: [], hasMore: false, nextSinceVersion: 1,
        conflicts: [open], lock: null,
      });
      return true;
    }
    if (f.type === 'conflict.resolve') {
      onResolve(sock, f, st);
      return true;
    }
    return false;
  });
  s.manager = new RealtimeSyncManager({ client: s.client, loadHistory: false, autoResolveConflicts: 'local' });
  await s.manager.startSync('order', '1');
  await flush();
  return s;
}

/** Reports c1 again `n` times, by a conflict event and by a sync each. */
async function reportAgain(s: Setup, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    s.sock.receive({ type: 'conflict', channel: 'order:1', payload: open });
    await flush();
    await s.manager.sync('order', '1');
    await flush();
  }
}

function settle(sock: FakeWebSocket, f: SentFrame, st: Setup): void {
  st.server.ack(sock, f, {
    entityType: 'order', entityId: '1', outcome: 'applied', applied: true, version: 2,
    change: change(2, 'price', 105, 'u1'), conflict: { ...open, resolved: true, resolution: 'local' },
  });
}

describe('RealtimeSyncManager autoResolveConflicts after a failure', () => {
  it.each(['FORBIDDEN', 'NOT_FOUND', 'BAD_REQUEST'])('does not ask again after a %s refusal, and shows it in error', async (code) => {
    const s = await following((sock, f, st) => st.server.error(sock, f, code));
    await reportAgain(s, 5);
    expect(s.server.framesOfType('conflict.resolve')).toHaveLength(1);
    const state = s.manager.getState('order', '1');
    expect(state.error?.code).toBe(code);
    expect(state.syncState).toBe('synced');
    expect(state.conflicts[0]).toMatchObject({ id: 'c1', resolved: false });
    // The waits of a backoff pass: still not asked again.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(s.server.framesOfType('conflict.resolve')).toHaveLength(1);
  });

  it('clears the refusal once the conflict is settled by hand', async () => {
    let refuse = true;
    const s = await following((sock, f, st) => (refuse ? st.server.error(sock, f, 'FORBIDDEN') : settle(sock, f, st)));
    expect(s.manager.getState('order', '1').error?.code).toBe('FORBIDDEN');
    refuse = false;
    await s.manager.resolveConflict('c1', 'local');
    const state = s.manager.getState('order', '1');
    expect(state.error).toBeNull();
    expect(state.conflicts[0]).toMatchObject({ id: 'c1', resolved: true });
    expect(s.server.framesOfType('conflict.resolve')).toHaveLength(2);
  });

  it('asks again after a temporary failure only when its backoff has passed, 1 s doubling', async () => {
    let failures = 2;
    const s = await following((sock, f, st) => {
      if (failures-- > 0) st.server.error(sock, f, 'UNAVAILABLE', { retryable: true });
      else settle(sock, f, st);
    });
    const asked = () => s.server.framesOfType('conflict.resolve').length;
    await reportAgain(s, 3);
    expect(asked()).toBe(1);
    expect(s.manager.getState('order', '1').error?.code).toBe('UNAVAILABLE');
    // First wait: within [0.5 s, 1 s] (equal jitter).
    await vi.advanceTimersByTimeAsync(1_000);
    expect(asked()).toBe(2);
    await reportAgain(s, 3);
    expect(asked()).toBe(2);
    // Second wait: within [1 s, 2 s].
    await vi.advanceTimersByTimeAsync(2_000);
    expect(asked()).toBe(3);
    const state = s.manager.getState('order', '1');
    expect(state.error).toBeNull();
    expect(state.conflicts[0]).toMatchObject({ id: 'c1', resolved: true });
    await reportAgain(s, 2);
    expect(asked()).toBe(3);
  });

  it('drops a retry waiting for its backoff on stopSync', async () => {
    const s = await following((sock, f, st) => st.server.error(sock, f, 'UNAVAILABLE', { retryable: true }));
    expect(s.server.framesOfType('conflict.resolve')).toHaveLength(1);
    s.manager.stopSync('order', '1');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.server.framesOfType('conflict.resolve')).toHaveLength(1);
  });
});
