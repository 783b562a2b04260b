// Timers whose delay comes from an option or the server wait it out even
// past 2^31 - 1 ms (about 24.8 days), where setTimeout would fire at once.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PresenceManager, RealtimeSyncManager, WebSocketClient, type Clock, type PresenceManagerOptions } from '../src/index.js';
import { MAX_TIMER_DELAY } from '../src/websocket-client.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';
import { flush, lock, setup } from './sync-harness.js';

const DAY = 24 * 60 * 60 * 1000;

/** Fake timers as browsers and Node run them: a delay past 2^31 - 1 ms fires (almost) at once. */
const realLike: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms > MAX_TIMER_DELAY ? 1 : ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

async function presence(options: Omit<PresenceManagerOptions, 'client'>): Promise<{ server: FakeServer; manager: PresenceManager }> {
  const server = new FakeServer({
    handler: (sock, f) => {
      if (f.type === 'room.join' || f.type === 'presence.snapshot') {
        server.ack(sock, f, { room: '', usersInRoom: [], userCount: 0, onlineCount: 0, awayCount: 0 });
      } else if (f.type === 'presence') {
        server.ack(sock, f, { presence: { userId: 'u1', username: 'Ann', status: 'online', lastSeen: '', currentLocation: { page: '' } }, rooms: [] });
      } else if (f.type === 'cursor') {
        server.ack(sock, f, { room: 'order-1', recipients: 1, delivered: 1 });
      } else {
        return false;
      }
      return true;
    },
  });
  const client = new WebSocketClient({ url: 'ws://test.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0, maxConnectionAge: 0, rateLimit: false });
  client.connect();
  FakeWebSocket.last.open();
  await flush();
  const manager = new PresenceManager({ client, clock: realLike, trackActivity: false, refreshInterval: 0, ...options });
  manager.start();
  await flush();
  return { server, manager };
}

describe('long timers', () => {
  it('PresenceManager: an awayTimeout of 30 days is waited out', async () => {
    const { manager } = await presence({ awayTimeout: 30 * DAY });
    await vi.advanceTimersByTimeAsync(1000);
    expect(manager.getSnapshot().status).toBe('online');
    await vi.advanceTimersByTimeAsync(30 * DAY - 2000);
    expect(manager.getSnapshot().status).toBe('online');
    await vi.advanceTimersByTimeAsync(1001);
    expect(manager.getSnapshot().status).toBe('away');
  });

  it('PresenceManager: a refreshInterval of 30 days does not refresh again at once', async () => {
    const { server } = await presence({ refreshInterval: 30 * DAY, awayTimeout: 0 }); // never away: an away user is not refreshed
    const snapshots = () => server.framesOfType('presence.snapshot').length;
    const first = snapshots();
    await vi.advanceTimersByTimeAsync(1000);
    expect(snapshots()).toBe(first);
    await vi.advanceTimersByTimeAsync(30 * DAY);
    expect(snapshots()).toBe(first + 1);
  });

  it('PresenceManager: a cursorThrottle of 30 days holds the next cursor frame back', async () => {
    const { server, manager } = await presence({ cursorThrottle: 30 * DAY });
    await manager.joinRoom('order-1').ready;
    manager.updateCursor('order-1', { x: 1, y: 1 });
    await vi.advanceTimersByTimeAsync(100);
    manager.updateCursor('order-1', { x: 2, y: 2 });
    await vi.advanceTimersByTimeAsync(1000);
    const xs = () => server.framesOfType('cursor').map((f) => (f.payload as { x: number }).x);
    expect(xs()).toEqual([1]);
    await vi.advanceTimersByTimeAsync(30 * DAY);
    expect(xs()).toEqual([1, 2]);
  });

  it('RealtimeSyncManager: a lock with a long lockTtl and a far expiry is renewed at half the ttl, not at once', async () => {
    const ttl = 2 ** 33; // about 99 days: renewed after about 50
    const s = await setup((sock, f, st) => {
      if (f.type !== 'lock.acquire' && f.type !== 'lock.renew') return;
      st.server.ack(sock, f, { lock: { ...lock('u1', 7), expiresAt: new Date(Date.now() + ttl).toISOString() } });
      return true;
    });
    const manager = new RealtimeSyncManager({ client: s.client, clock: realLike, lockTtl: ttl, loadHistory: false });
    await manager.startSync('order', '1');
    expect(await manager.acquireLock('order', '1')).not.toBeNull();
    const renewals = () => s.server.framesOfType('lock.renew').length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(renewals()).toBe(0);
    await vi.advanceTimersByTimeAsync(ttl / 2 - 2000);
    expect(renewals()).toBe(0);
    await vi.advanceTimersByTimeAsync(1001);
    expect(renewals()).toBe(1);
  });

  it('RealtimeSyncManager: a lock whose expiresAt does not parse is renewed at half the ttl, not at once', async () => {
    const s = await setup((sock, f, st) => {
      if (f.type !== 'lock.acquire' && f.type !== 'lock.renew') return;
      st.server.ack(sock, f, { lock: { ...lock('u1', 7), expiresAt: 'soon' } });
      return true;
    });
    const manager = new RealtimeSyncManager({ client: s.client, clock: realLike, loadHistory: false });
    await manager.startSync('order', '1');
    expect(await manager.acquireLock('order', '1')).not.toBeNull();
    const renewals = () => s.server.framesOfType('lock.renew').length;
    await vi.advanceTimersByTimeAsync(14_999);
    expect(renewals()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(renewals()).toBe(1);
  });
});
