import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { RealtimeError } from '../src/index.js';
import { FakeWebSocket } from './fake-websocket.js';
import { flush, setup } from './sync-harness.js';

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

// A change whose value JSON cannot encode never leaves the client: it is
// refused at once, not retried as a server failure and then withdrawn as
// one that may have been applied.
it('a change JSON cannot encode is refused at once with BAD_REQUEST, not retried', async () => {
  const s = await setup();
  await s.manager.startSync('order', '1');
  let settled: RealtimeError | null = null;
  s.manager
    .pushChange({ entityType: 'order', entityId: '1', operation: 'update', path: 'total', after: 10n })
    .catch((e: RealtimeError) => (settled = e));
  await flush();
  const atOnce = settled;
  await vi.advanceTimersByTimeAsync(10_000);
  expect(settled).toMatchObject({ code: 'BAD_REQUEST', retryable: false });
  expect(atOnce).toBe(settled);
  expect(s.server.framesOfType('change')).toHaveLength(0);
  expect(s.manager.getState('order', '1').document).toEqual({});
});
