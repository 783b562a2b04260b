import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PresenceManager, WebSocketClient } from '../src/index.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

class FakeTarget extends EventTarget {
  visibilityState = 'visible';
}

async function setup(): Promise<{ client: WebSocketClient; server: FakeServer; manager: PresenceManager; win: FakeTarget; doc: FakeTarget }> {
  const server = new FakeServer({
    handler: (sock, f) => {
      const room = (f.payload as { room?: string } | undefined)?.room ?? '';
      switch (f.type) {
        case 'room.join':
        case 'presence.snapshot':
          server.ack(sock, f, { room, usersInRoom: [], userCount: 0, onlineCount: 0, awayCount: 0 });
          return true;
        case 'presence':
          server.ack(sock, f, {
            presence: { userId: 'u1', username: 'Ann', status: 'online', lastSeen: '', currentLocation: { page: '' } },
            rooms: [],
          });
          return true;
        case 'cursor':
          server.ack(sock, f, { room, recipients: 1, delivered: 1 });
          return true;
      }
      return false;
    },
  });
  const client = new WebSocketClient({
    url: 'ws://test.invalid/ws',
    WebSocketImpl: FakeWebSocket,
    heartbeatInterval: 0,
    maxConnectionAge: 0,
    rateLimit: false,
  });
  client.connect();
  FakeWebSocket.last.open();
  await flush();
  const win = new FakeTarget();
  const doc = new FakeTarget();
  const manager = new PresenceManager({ client, activityTarget: win, visibilityTarget: doc, refreshInterval: 0 });
  manager.start();
  await flush();
  return { client, server, manager, win, doc };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

const statuses = (server: FakeServer): unknown[] =>
  server.framesOfType('presence').map((f) => (f.payload as { status: string }).status);

describe('PresenceManager', () => {
  it('throttles cursors to one frame per 100 ms, the latest position winning', async () => {
    const { server, manager } = await setup();
    await manager.joinRoom('order-1').ready;
    for (let i = 1; i <= 10; i++) {
      manager.updateCursor('order-1', { x: i, y: i });
      await vi.advanceTimersByTimeAsync(10);
    }
    await vi.advanceTimersByTimeAsync(200);
    const cursors = server.framesOfType('cursor').map((f) => (f.payload as { x: number }).x);
    expect(cursors).toEqual([1, 10]);
  });

  it('goes away after 5 minutes without input and comes back on input', async () => {
    const { server, win } = await setup();
    await vi.advanceTimersByTimeAsync(299_000);
    expect(statuses(server)).not.toContain('away');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(statuses(server).at(-1)).toBe('away');
    win.dispatchEvent(new Event('mousemove'));
    await flush();
    expect(statuses(server).at(-1)).toBe('online');
  });

  it('goes away when the page is hidden', async () => {
    const { server, manager, doc } = await setup();
    doc.visibilityState = 'hidden';
    doc.dispatchEvent(new Event('visibilitychange'));
    await flush();
    expect(statuses(server).at(-1)).toBe('away');
    expect(manager.getSnapshot().status).toBe('away');
    doc.visibilityState = 'visible';
    doc.dispatchEvent(new Event('visibilitychange'));
    await flush();
    expect(manager.getSnapshot().status).toBe('online');
  });

  it('keeps room members from events newer than a join reply', async () => {
    const { manager } = await setup();
    const sock = FakeWebSocket.last;
    const { ready } = manager.joinRoom('r');
    // A join event of another user arrives before the (older) join reply.
    sock.receive({
      type: 'presence',
      channel: 'room:r',
      payload: { event: 'join', room: 'r', user: { userId: 'u2', username: 'Bob', status: 'online', lastSeen: '', currentLocation: { page: '' } } },
    });
    await ready;
    expect(manager.getSnapshot().rooms['r']?.usersInRoom.map((u) => u.userId)).toEqual(['u2']);
    expect(manager.getSnapshot().rooms['r']?.userCount).toBe(1);
  });
});
