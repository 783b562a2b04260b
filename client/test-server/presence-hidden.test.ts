/// <reference types="node" />
// A user who appears offline against the real local server: the
// PresenceManager opens every connection with status=offline in its query,
// so that the hello and resubscribes a connection sends before the
// manager's presence frame announce nothing, at the first connection and
// at a reconnect; and it sends no cursor meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PresenceManager, createWebSocketClient, type WebSocketClient, type WebSocketMessage } from '../src/index.js';
import { devClient, startLocalServer, until, type LocalServer } from './server.js';

let server: LocalServer;
const clients: WebSocketClient[] = [];

beforeAll(async () => {
  server = await startLocalServer();
});
afterAll(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await server.stop();
});

describe('a user who appears offline', () => {
  it('is never announced, at the first connection or at a reconnect, and sends no cursor', async () => {
    const bob = devClient(server, 'bob', clients);
    const seen: WebSocketMessage[] = [];
    bob.on('message', (m) => {
      if (m.type === 'presence' || m.type === 'cursor') seen.push(m);
    });
    await bob.subscribe('user-presence');
    await bob.request('room.join', { payload: { room: 'lobby' } });

    const dave = createWebSocketClient({
      url: `${server.wsUrl}?userId=dave`,
      WebSocketImpl: WebSocket,
      reconnectInterval: 100,
      maxReconnectInterval: 500,
      rateLimit: false,
    });
    clients.push(dave);
    const manager = new PresenceManager({ client: dave, refreshInterval: 0, trackActivity: false });
    manager.setStatus('offline');
    manager.start();
    dave.connect();
    const room = manager.joinRoom('lobby');
    await room.ready;
    await until(() => manager.getSnapshot().currentUser?.status === 'offline' && dave.session !== null, 10_000, "dave's first connection");
    manager.updateMousePosition(10, 20);

    // A reconnect: hello, the resubscribes and the room's join go out again.
    dave.disconnect();
    dave.connect();
    await until(() => manager.getSnapshot().rooms['lobby']?.joined && dave.session !== null, 10_000, "dave's second connection");
    await dave.request('ping');
    manager.updateMousePosition(30, 40);
    await bob.request('ping');

    const aboutDave = seen.filter((m) => m.userId === 'dave' || JSON.stringify(m.payload).includes('"dave"'));
    expect(aboutDave).toEqual([]);
    const listed = await bob.request<'presence.snapshot', { usersInRoom: { userId: string }[] }>('presence.snapshot', { payload: { room: 'lobby' } });
    expect(listed.usersInRoom.map((u) => u.userId)).toEqual(['bob']);
    room.release();
    manager.destroy();
  });
});
