// @vitest-environment happy-dom
import { act, cleanup, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { WebSocketClient, type Change, type Conflict } from '../src/index.js';
import { useRealtimeSync } from '../src/react/index.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

async function settle(ms = 0): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}
function change(version: number, path: string, after: unknown, userId = 'u2'): Change {
  return { id: `order:1:${version}`, entityType: 'order', entityId: '1', userId, operation: 'update', path, before: null, after,
    timestamp: new Date().toISOString(), resolved: true, version };
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

it('useRealtimeSync autoResolveConflicts takes CONFLICT_RESOLVED as settled and does not resend at every state change', async () => {
  const conflict: Conflict = { id: 'c1', localChange: change(0, 'status', 'mine', 'u1'), remoteChange: change(1, 'status', 'theirs'),
    resolved: false, entityType: 'order', entityId: '1', path: 'status' };
  const server: FakeServer = new FakeServer({
    handler: (sock, f) => {
      const p = (f.payload ?? {}) as Record<string, unknown>;
      switch (f.type) {
        case 'sync':
          server.ack(sock, f, { strategy: 'last-write-wins', version: 1, snapshot: p['sinceVersion'] === 0, document: {},
            changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [conflict], lock: null });
          return true;
        case 'history':
          server.ack(sock, f, { version: 1, changes: [] });
          return true;
        case 'comment.list':
          server.ack(sock, f, { comments: [] });
          return true;
        case 'conflict.resolve':
          // Settled first elsewhere (this user's other tab, or the other author).
          server.error(sock, f, 'CONFLICT_RESOLVED', { details: { conflict: { ...conflict, resolved: true, resolution: 'remote' } } });
          return true;
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
  const h = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, autoResolveConflicts: 'local' }));
  await settle();
  for (let v = 2; v <= 6; v++) {
    act(() => sock.receive({ type: 'change', channel: 'order:1', payload: change(v, 'notes', v) }));
    await settle();
  }
  expect(server.framesOfType('conflict.resolve')).toHaveLength(1);
  expect(h.result.current.conflicts[0]).toMatchObject({ id: 'c1', resolved: true });
});
