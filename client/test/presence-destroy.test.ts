import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { PresenceManager, WebSocketClient } from '../src/index.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

beforeEach(() => { vi.useFakeTimers(); FakeWebSocket.reset(); });
afterEach(() => { vi.useRealTimers(); FakeWebSocket.reset(); });

it('settles the ready of a room entered while offline when the client is destroyed', async () => {
  new FakeServer();
  const client = new WebSocketClient({ url: 'ws://test.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
    maxConnectionAge: 0, rateLimit: false, random: () => 0, reconnectInterval: 10 });
  const manager = new PresenceManager({ client, trackActivity: false, refreshInterval: 0 });
  manager.start();
  const { ready } = manager.joinRoom('order-1'); // not connected yet
  let outcome = 'pending';
  ready.then(() => (outcome = 'resolved'), (e: { code?: string }) => (outcome = `rejected ${e.code ?? e}`));
  client.destroy(); // e.g. the app signs out
  await vi.advanceTimersByTimeAsync(60_000);
  expect(outcome).toBe('rejected CLIENT_DESTROYED');
});
