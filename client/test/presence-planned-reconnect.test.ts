import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PresenceManager, WebSocketClient } from '../src/index.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';

// A planned reconnect (maxConnectionAge here) first waits for the replies
// in flight, then opens the next connection. A room join made meanwhile
// must not be held for that connection: the application may release the
// room before it opens, and the next connection joins the rooms held then.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

async function draining(): Promise<{ server: FakeServer; manager: PresenceManager; joinsOf: (room: string) => SentFrame[] }> {
  let publish: { sock: FakeWebSocket; f: SentFrame } | null = null;
  answerPublish = () => {
    if (publish !== null) server.ack(publish.sock, publish.f, {});
  };
  const server = new FakeServer({
    handler: (sock, f) => {
      const room = (f.payload as { room?: string } | undefined)?.room ?? '';
      switch (f.type) {
        case 'publish':
          publish = { sock, f }; // answered by the test: the planned reconnect waits for it
          return true;
        case 'room.join':
          server.ack(sock, f, { room, usersInRoom: [], userCount: 0, onlineCount: 0, awayCount: 0 });
          return true;
        case 'room.leave':
          server.ack(sock, f, { room });
          return true;
        case 'presence':
          server.ack(sock, f, { presence: { userId: 'u1', username: 'Ann', status: 'online', lastSeen: '', currentLocation: { page: '' } }, rooms: [] });
          return true;
      }
      return false;
    },
  });
  const client = new WebSocketClient({
    url: 'ws://test.invalid/ws',
    WebSocketImpl: FakeWebSocket,
    heartbeatInterval: 0,
    maxConnectionAge: 60_000,
    requestTimeout: 5_000,
    rateLimit: false,
    random: () => 0,
  });
  client.connect();
  FakeWebSocket.last.open();
  await flush();
  const manager = new PresenceManager({ client, activityTarget: new EventTarget(), visibilityTarget: new EventTarget(), refreshInterval: 0 });
  manager.start();
  await flush();
  await vi.advanceTimersByTimeAsync(59_000);
  void client.request('publish', { channel: 'news', payload: {} }).catch(() => undefined);
  await flush();
  const first = FakeWebSocket.last;
  await vi.advanceTimersByTimeAsync(1_000); // the planned reconnect starts waiting for the publish
  expect(FakeWebSocket.last).toBe(first);
  const joinsOf = (room: string): SentFrame[] => server.framesOfType('room.join').filter((f) => (f.payload as { room?: string }).room === room);
  return { server, manager, joinsOf };
}

let answerPublish = (): void => undefined;

/** Ends the planned reconnect's wait (its publish is answered) well within the requests' timeout, and opens the next connection. */
async function nextConnection(): Promise<void> {
  const old = FakeWebSocket.last;
  await vi.advanceTimersByTimeAsync(1_000);
  answerPublish();
  await flush();
  expect(FakeWebSocket.last).not.toBe(old);
  FakeWebSocket.last.open();
  await flush();
  await flush();
}

describe('room joins during a planned reconnect', () => {
  it('a room joined and released while the reconnect waits is not joined on the next connection', async () => {
    const { manager, joinsOf } = await draining();
    const { release, ready } = manager.joinRoom('den');
    ready.catch(() => undefined);
    await flush();
    release();
    await flush();
    await nextConnection();
    expect(joinsOf('den')).toHaveLength(0);
  });

  it('a room joined while the reconnect waits is joined once on the next connection, and its ready settles', async () => {
    const { manager, joinsOf } = await draining();
    const { ready } = manager.joinRoom('den');
    await flush();
    await nextConnection();
    await expect(ready).resolves.toMatchObject({ room: 'den' });
    expect(joinsOf('den')).toHaveLength(1);
  });
});
