// @vitest-environment happy-dom
// The demo's live page against a fake server (it imports the package by its
// name: vitest.config.ts and demo/tsconfig.json map that to the source).
import { act, cleanup, render } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../demo/src/App.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

async function settle(ms = 0): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

const T0 = Date.UTC(2026, 0, 15, 12);

function entry(id: string, orderId: string, secondsAgo: number) {
  return {
    id,
    userId: 'bob',
    username: 'Bob',
    action: 'updated',
    entity: { type: 'order', id: orderId, name: '' },
    changes: [{ field: 'notes', before: '', after: id }],
    timestamp: new Date(T0 - secondsAgo * 1000).toISOString(),
  };
}

let savedWebSocket: unknown;
beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  FakeWebSocket.reset();
  savedWebSocket = (globalThis as { WebSocket?: unknown }).WebSocket;
  (globalThis as { WebSocket?: unknown }).WebSocket = FakeWebSocket;
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
  FakeWebSocket.reset();
  (globalThis as { WebSocket?: unknown }).WebSocket = savedWebSocket;
});

describe('demo activity feed', () => {
  it("keeps the open order's own entries while other orders of the tenant are edited", async () => {
    const server: FakeServer = new FakeServer({
      handler: (sock, f) => {
        const p = (f.payload ?? {}) as Record<string, unknown>;
        switch (f.type) {
          case 'sync':
            server.ack(sock, f, { strategy: 'lock-based', version: 1, snapshot: true, document: {}, changes: [], hasMore: false, conflicts: [], lock: null });
            return true;
          case 'history':
            server.ack(sock, f, { version: 1, changes: [] });
            return true;
          case 'comment.list':
            server.ack(sock, f, { comments: [] });
            return true;
          case 'activity.list':
            server.ack(sock, f, { entries: [entry('mine-1', '1001', 600), entry('mine-2', '1001', 700)] });
            return true;
          case 'activity':
            server.ack(sock, f, { entry: entry('viewed', '1001', 0) });
            return true;
          case 'room.join':
          case 'presence.snapshot':
            server.ack(sock, f, { room: p['room'] ?? '', usersInRoom: [], userCount: 0, onlineCount: 0, awayCount: 0 });
            return true;
          case 'presence':
            server.ack(sock, f, { presence: { userId: 'ann', username: 'Ann', status: 'online', lastSeen: '', currentLocation: { page: '' } }, rooms: [] });
            return true;
        }
        return false;
      },
    });
    const r = render(<App session={{ userId: 'ann', username: 'Ann', orderId: '1001', wsUrl: 'ws://t.invalid/ws' }} lang="en" onLanguageChange={() => {}} now={() => T0} />);
    await settle();
    const sock = FakeWebSocket.last;
    sock.open();
    await settle(10);
    const shown = (): number => r.getByTestId('activity-feed').querySelectorAll('[data-testid=activity-entry]').length;
    expect(shown()).toBe(2);
    // A busy tenant: 200 newer edits of other orders arrive on activity-feed.
    for (let i = 0; i < 200; i++) {
      act(() => sock.receive({ type: 'activity', channel: 'activity-feed', payload: entry(`other-${i}`, String(2000 + i), 10) }));
    }
    await settle(10);
    expect(shown()).toBe(2);
    // The order's own live entry still shows.
    act(() => sock.receive({ type: 'activity', channel: 'activity-feed', payload: entry('mine-3', '1001', 5) }));
    await settle(10);
    expect(shown()).toBe(3);
    // Rendering the demo with 200 entries takes a few seconds on a loaded two-core machine,
    // close to vitest's default 5 s; nothing here is timed.
  }, 60_000);
});
