/// <reference types="node" />
// A room of more users than the room.join reply's first page (100) against
// the real local server: the PresenceManager reads the rest with
// presence.snapshot and the join reply's cursor, and lists every member.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceManager, type WebSocketClient } from '../src/index.js';
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

describe('a room past the join reply\'s first page', () => {
  it('lists every member and counts them', async () => {
    const ids = Array.from({ length: 130 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    const members = ids.map((id) => devClient(server, id, clients));
    await until(() => members.every((c) => c.connected), 20_000, 'the members connected');
    await Promise.all(members.map((c) => c.request('room.join', { payload: { room: 'big' } })));

    const ann = devClient(server, 'ann', clients);
    const manager = new PresenceManager({ client: ann, refreshInterval: 0, trackActivity: false });
    manager.start();
    const joined = manager.joinRoom('big');
    const first = await joined.ready;
    expect(first.userCount).toBe(131);
    const all = await until(
      () => {
        const r = manager.getSnapshot().rooms['big'];
        return r !== undefined && r.usersInRoom.length === 131 ? r : null;
      },
      10_000,
      'every member listed',
    );
    expect(all.usersInRoom.map((u) => u.userId).sort()).toEqual(['ann', ...ids].sort());
    expect(all.userCount).toBe(131);
    expect(manager.getSnapshot().error).toBeNull();
    joined.release();
    manager.destroy();
  });
});
