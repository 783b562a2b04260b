// @vitest-environment happy-dom
import { act, cleanup, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { WebSocketClient, type Lock } from '../src/index.js';
import { useLock, useRealtimeSync } from '../src/react/index.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';

async function settle(ms = 0): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
  FakeWebSocket.reset();
});

it('useLock unmounted while acquireLock is in flight releases the lock granted afterwards even when another hook follows the entity', async () => {
  const lock: Lock = { entityType: 'order', entityId: '1', lockedBy: 'u1', lockedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 30_000).toISOString(), fencingToken: 3 };
  let held: SentFrame | null = null;
  const server: FakeServer = new FakeServer({
    handler: (sock, f) => {
      const p = (f.payload ?? {}) as Record<string, unknown>;
      switch (f.type) {
        case 'sync':
          server.ack(sock, f, { strategy: 'lock-based', version: 1, snapshot: p['sinceVersion'] === 0, document: {},
            changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null });
          return true;
        case 'history': server.ack(sock, f, { version: 1, changes: [] }); return true;
        case 'comment.list': server.ack(sock, f, { comments: [] }); return true;
        case 'lock.acquire': held = f; return true;
        case 'lock.renew': server.ack(sock, f, { lock }); return true;
        case 'lock.release': server.ack(sock, f, { lock }); return true;
      }
      return false;
    },
  });
  const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
    maxConnectionAge: 0, rateLimit: false, random: () => 0.5 });
  client.connect();
  const sock = FakeWebSocket.last;
  sock.open();
  await settle();
  // The page follows the order; an edit dialog has the lock button.
  renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, userId: 'u1' }));
  const dialog = renderHook(() => useLock({ wsClient: client, entityType: 'order', entityId: '1' }));
  await settle();
  let acquired: Promise<Lock | null> | undefined;
  act(() => {
    acquired = dialog.result.current.acquireLock();
  });
  await settle();
  expect(held).not.toBeNull();
  dialog.unmount(); // the dialog closes before the lock is granted
  await settle();
  server.ack(sock, held as unknown as SentFrame, { lock }); // granted after the unmount
  await settle();
  // useLock's contract: "null ... when the hook unmounted before the lock was granted (it is then released)".
  await expect(acquired).resolves.toBeNull();
  await settle(60_000);
  expect(server.framesOfType('lock.release')).toHaveLength(1);
  expect(server.framesOfType('lock.renew')).toHaveLength(0);
});
