import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PresenceManager, RealtimeError, WebSocketClient } from '../src/index.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';

const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

class FakeTarget extends EventTarget {
  visibilityState = 'visible';
}

const user = (userId: string, status: string) => ({ userId, username: userId, status, lastSeen: '', currentLocation: { page: '' } });

interface SetupOptions {
  /**
   * How the server answers cursor frames. Default: acks them. `limited`:
   * as the server's per-connection cursor bucket (20/s, burst 2) does,
   * whatever the room.
   */
  cursors?: 'ack' | 'hold' | 'rate-limited' | 'limited';
  /** The retryAfterMs of a refused cursor. Default 50. */
  retryAfterMs?: number;
  /** The members room.join and presence.snapshot replies list. Default: none. */
  listed?: ReturnType<typeof user>[];
}

async function setup(
  o: SetupOptions = {},
): Promise<{
  client: WebSocketClient;
  server: FakeServer;
  manager: PresenceManager;
  win: FakeTarget;
  doc: FakeTarget;
  /** The cursor frames the server accepted. */
  accepted: SentFrame[];
}> {
  const listed = o.listed ?? [];
  const accepted: SentFrame[] = [];
  let tokens = 2;
  let filledAt = Date.now();
  const allow = (): boolean => {
    if (o.cursors === 'rate-limited') return false;
    if (o.cursors !== 'limited') return true;
    const now = Date.now();
    tokens = Math.min(2, tokens + ((now - filledAt) / 1000) * 20);
    filledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
  const server = new FakeServer({
    handler: (sock, f) => {
      const room = (f.payload as { room?: string } | undefined)?.room ?? '';
      switch (f.type) {
        case 'room.join':
        case 'presence.snapshot':
          server.ack(sock, f, { room, usersInRoom: listed, userCount: listed.length, onlineCount: listed.length, awayCount: 0 });
          return true;
        case 'presence':
          server.ack(sock, f, {
            presence: { userId: 'u1', username: 'Ann', status: 'online', lastSeen: '', currentLocation: { page: '' } },
            rooms: [],
          });
          return true;
        case 'cursor':
          if (o.cursors === 'hold') return true;
          if (!allow()) {
            server.error(sock, f, 'RATE_LIMITED', { retryable: true, details: { retryAfterMs: o.retryAfterMs ?? 50 } });
            return true;
          }
          accepted.push(f);
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
    random: () => 0,
    reconnectInterval: 10,
  });
  client.connect();
  FakeWebSocket.last.open();
  await flush();
  const win = new FakeTarget();
  const doc = new FakeTarget();
  const manager = new PresenceManager({ client, activityTarget: win, visibilityTarget: doc, refreshInterval: 0 });
  manager.start();
  await flush();
  return { client, server, manager, win, doc, accepted };
}

/** A started PresenceManager on a connected client (to the FakeServer made before), without DOM tracking. */
async function startedManager(refreshInterval: number): Promise<PresenceManager> {
  const client = new WebSocketClient({ url: 'ws://test.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
    maxConnectionAge: 0, rateLimit: false, random: () => 0, reconnectInterval: 10 });
  client.connect();
  FakeWebSocket.last.open();
  await flush();
  const manager = new PresenceManager({ client, trackActivity: false, refreshInterval });
  manager.start();
  await flush();
  return manager;
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

// Cursor positions are never sent twice, and the presence manager's
// bookkeeping does not grow with every user it ever saw.
describe('appearing offline', () => {
  it('goes in the query of every later connection, so that the server starts it hidden, until the user shows again', async () => {
    const { client, manager } = await setup();
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/ws');
    manager.setStatus('offline');
    FakeWebSocket.last.serverClose(1006, '');
    await vi.advanceTimersByTimeAsync(100);
    const hidden = FakeWebSocket.last;
    expect(hidden.url).toBe('ws://test.invalid/ws?status=offline');
    hidden.open();
    await flush();
    const stated = hidden.sent.map((f) => JSON.parse(f) as SentFrame).find((f) => f.type === 'presence');
    expect(stated?.payload).toMatchObject({ status: 'offline' });
    manager.setStatus('away');
    hidden.serverClose(1006, '');
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/ws');
    manager.setStatus('offline');
    manager.destroy();
    FakeWebSocket.last.open();
    await flush();
    FakeWebSocket.last.serverClose(1006, '');
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/ws');
    client.destroy();
  });
});

describe('cursor positions', () => {
  it('are not sent again on the next connection when the socket drops before the ack', async () => {
    const { server, manager } = await setup({ cursors: 'hold' });
    await manager.joinRoom('dash').ready;
    manager.updateCursor('dash', { x: 1, y: 1 });
    await flush();
    expect(server.framesOfType('cursor')).toHaveLength(1);
    const first = FakeWebSocket.last;
    first.serverClose(1006);
    await vi.advanceTimersByTimeAsync(50);
    const second = FakeWebSocket.last;
    expect(second).not.toBe(first);
    second.open();
    await flush();
    await flush();
    expect(second.framesOfType('room.join')).toHaveLength(1);
    expect(second.framesOfType('cursor')).toHaveLength(0);
  });

  it('are not sent while this user appears offline, one waiting for its turn neither', async () => {
    const { server, manager } = await setup();
    await manager.joinRoom('dash').ready;
    manager.updateMousePosition(1, 1);
    manager.updateMousePosition(2, 2); // waits out the throttle
    manager.setStatus('offline');
    await vi.advanceTimersByTimeAsync(500);
    manager.updateMousePosition(3, 3);
    manager.updateCursor('dash', { anchor: { elementId: 'total' } });
    await vi.advanceTimersByTimeAsync(500);
    expect(server.framesOfType('cursor').map((f) => (f.payload as { x?: number }).x)).toEqual([1]);
    manager.setStatus('online');
    manager.updateMousePosition(4, 4);
    await vi.advanceTimersByTimeAsync(500);
    expect(server.framesOfType('cursor').map((f) => (f.payload as { x?: number }).x)).toEqual([1, 4]);
  });

  // The server relays an anchor's elementId to the whole room as sent, and
  // refuses one it would not show (internal/ident Clean), as it refuses
  // such presence texts: the SDK refuses it first, with the same error.
  it('refuse an anchor whose elementId holds an invisible character, and send nothing; a visible one is sent', async () => {
    const { server, manager } = await setup();
    await manager.joinRoom('dash').ready;
    const hostile: [string, string][] = [
      ['row-1\u202Etotal', 'U+202E'],
      ['row-1\u0000', 'U+0000'],
      ['row\u200B1', 'U+200B'],
      ['\u2066cell', 'U+2066'],
      ['cell\u200D', 'U+200D'],
      ['cell\uE000', 'U+E000'],
      ['cell\uD800', 'U+D800'],
    ];
    for (const [elementId, codePoint] of hostile) {
      let thrown: unknown;
      try {
        manager.updateCursor('dash', { x: 1, y: 1, anchor: { elementId } });
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(elementId)).toBeInstanceOf(RealtimeError);
      expect(thrown).toMatchObject({ code: 'BAD_REQUEST', retryable: false, details: { field: 'elementId', codePoint } });
    }
    await vi.advanceTimersByTimeAsync(500);
    expect(server.framesOfType('cursor')).toHaveLength(0);
    const visible = 'cell \u{1F469}\u200D\u{1F4BB} Ünïcode';
    manager.updateCursor('dash', { anchor: { elementId: visible } });
    await vi.advanceTimersByTimeAsync(500);
    expect(server.framesOfType('cursor').map((f) => (f.payload as { anchor?: { elementId: string } }).anchor?.elementId)).toEqual([visible]);
  });

  it('are not retried after RATE_LIMITED', async () => {
    const { server, manager } = await setup({ cursors: 'rate-limited' });
    await manager.joinRoom('dash').ready;
    manager.updateCursor('dash', { x: 1, y: 1 });
    await vi.advanceTimersByTimeAsync(2000);
    expect(server.framesOfType('cursor')).toHaveLength(1);
  });

  // The server's cursor limit (20/s, burst 2) is one bucket per connection,
  // whatever the room: with three rooms, per-room throttling alone sends
  // three frames at once and the third is refused, the same room each time.
  it('reach every joined room under the per-connection cursor limit, each room ending at the latest position', async () => {
    const { server, manager, accepted } = await setup({ cursors: 'limited' });
    const rooms = ['order-1', 'order-1-lines', 'dashboard'];
    for (const r of rooms) await manager.joinRoom(r).ready;
    await vi.advanceTimersByTimeAsync(1000);
    // The pointer moves for one second, then rests at x = 20.
    for (let i = 1; i <= 20; i++) {
      manager.updateMousePosition(i, i);
      await vi.advanceTimersByTimeAsync(50);
    }
    await vi.advanceTimersByTimeAsync(2000);
    const latest = new Map(accepted.map((f) => [(f.payload as { room: string }).room, (f.payload as { x: number }).x]));
    expect(Object.fromEntries(latest)).toEqual({ 'order-1': 20, 'order-1-lines': 20, dashboard: 20 });
    // Nothing was refused, and every room had its turn while the pointer moved.
    expect(server.framesOfType('cursor')).toHaveLength(accepted.length);
    const early = accepted.slice(0, 6).map((f) => (f.payload as { room: string }).room);
    expect(new Set(early)).toEqual(new Set(rooms));
  });

  it("hold the connection's next cursor frame back for a RATE_LIMITED answer's retryAfterMs", async () => {
    const { server, manager } = await setup({ cursors: 'rate-limited', retryAfterMs: 300 });
    await manager.joinRoom('a').ready;
    await manager.joinRoom('b').ready;
    manager.updateMousePosition(1, 1);
    await vi.advanceTimersByTimeAsync(299);
    expect(server.framesOfType('cursor').map((f) => (f.payload as { room: string }).room)).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.framesOfType('cursor').map((f) => (f.payload as { room: string }).room)).toEqual(['a', 'b']);
  });
});

describe('presence bookkeeping', () => {
  it("forgets users who went offline and rooms' members who left", async () => {
    const { manager } = await setup();
    await manager.joinRoom('dash').ready;
    const sock = FakeWebSocket.last;
    for (let i = 0; i < 1000; i++) {
      sock.receive({ type: 'presence', channel: 'user-presence', payload: { event: 'online', user: user(`g${i}`, 'online') } });
      sock.receive({ type: 'presence', channel: 'user-presence', payload: { event: 'offline', user: user(`g${i}`, 'offline') } });
      sock.receive({ type: 'presence', channel: 'room:dash', payload: { event: 'join', room: 'dash', user: user(`r${i}`, 'online') } });
      sock.receive({ type: 'presence', channel: 'room:dash', payload: { event: 'leave', room: 'dash', user: user(`r${i}`, 'offline') } });
    }
    await flush();
    const internals = manager as unknown as { userSeq: Map<string, number>; rooms: Map<string, { seq: Map<string, number> }> };
    // The room members who left are online users until an offline event says otherwise.
    expect(internals.userSeq.size).toBeLessThanOrEqual(1000 + 10);
    expect([...internals.userSeq.keys()].some((id) => id.startsWith('g'))).toBe(false);
    expect(internals.rooms.get('dash')?.seq.size).toBe(0);
  });

  it('still lets a leave newer than a join reply win over the reply', async () => {
    const { manager } = await setup({ listed: [user('u2', 'online')] });
    const sock = FakeWebSocket.last;
    const { ready } = manager.joinRoom('r');
    // u2 leaves before the (older) join reply that lists u2 arrives.
    sock.receive({ type: 'presence', channel: 'room:r', payload: { event: 'leave', room: 'r', user: user('u2', 'online') } });
    await ready;
    expect(manager.getSnapshot().rooms['r']?.usersInRoom.map((u) => u.userId)).toEqual([]);
    const internals = manager as unknown as { rooms: Map<string, { seq: Map<string, number> }> };
    expect(internals.rooms.get('r')?.seq.size).toBe(0); // forgotten once the reply is in
  });
});

describe('room values', () => {
  it('keep their identity when nothing in them changed, so a view of one room does not re-render for another', async () => {
    const { manager } = await setup();
    await manager.joinRoom('a').ready;
    await manager.joinRoom('b').ready;
    const before = manager.getSnapshot();
    FakeWebSocket.last.receive({ type: 'cursor', channel: 'room:a', payload: { userId: 'u2', username: 'Bob', x: 1, y: 2 } });
    await flush();
    const after = manager.getSnapshot();
    expect(after.rooms['a']).not.toBe(before.rooms['a']);
    expect(after.rooms['a']?.cursors).toHaveLength(1);
    expect(after.rooms['b']).toBe(before.rooms['b']);
  });
});

describe('rooms across reconnects', () => {
  const rooms = (sock: FakeWebSocket, type: string): string[] => sock.framesOfType(type).map((f) => (f.payload as { room: string }).room);

  it('does not join on the next connection a room joined and released while offline', async () => {
    const { manager } = await setup();
    FakeWebSocket.last.serverClose(1006);
    const r = manager.joinRoom('order-1');
    r.ready.catch(() => {});
    r.release();
    await vi.advanceTimersByTimeAsync(20);
    const sock = FakeWebSocket.last;
    sock.open();
    await flush();
    expect(rooms(sock, 'room.join')).toEqual([]);
    expect(rooms(sock, 'room.leave')).toEqual([]);
    const released = await r.ready.catch((e: unknown) => e);
    expect(released).toBeInstanceOf(RealtimeError);
    expect(released).toMatchObject({ code: 'CANCELLED', retryable: false, message: 'left room order-1 before joining it' });
  });

  it('joins a room entered while offline once, on the next connection, and then settles its ready', async () => {
    const { manager } = await setup();
    FakeWebSocket.last.serverClose(1006);
    const { ready } = manager.joinRoom('order-1');
    await vi.advanceTimersByTimeAsync(20);
    const sock = FakeWebSocket.last;
    sock.open();
    await flush();
    expect(rooms(sock, 'room.join')).toEqual(['order-1']);
    await expect(ready).resolves.toMatchObject({ room: 'order-1', joined: true });
    expect(manager.getSnapshot().error).toBeNull();
  });

  it('joins again on the next connection a room whose join the drop cut off, without reporting an error', async () => {
    const { manager, server } = await setup();
    const held = server.handler;
    server.handler = (sock, f) => (f.type === 'room.join' ? true : held?.(sock, f)); // no reply on this connection
    const { ready } = manager.joinRoom('order-1');
    await flush();
    FakeWebSocket.last.serverClose(1006);
    server.handler = held;
    await vi.advanceTimersByTimeAsync(20);
    const sock = FakeWebSocket.last;
    sock.open();
    await flush();
    expect(rooms(sock, 'room.join')).toEqual(['order-1']);
    await expect(ready).resolves.toMatchObject({ room: 'order-1', joined: true });
    expect(manager.getSnapshot().error).toBeNull();
  });
});

// API Gateway invokes the handler for each frame of a connection on its
// own, so two frames written back to back may be handled in either order:
// room.join and room.leave of one room go out one after another.
describe('room operations', () => {
  /** Holds room.join / room.leave unanswered until `answer` (the handler still running). */
  async function holding(): Promise<{ manager: PresenceManager; server: FakeServer; wire: () => string[]; answer: () => Promise<void> }> {
    const { manager, server } = await setup();
    const auto = server.handler;
    const held: { sock: FakeWebSocket; frame: SentFrame }[] = [];
    server.handler = (sock, f) => {
      if (f.type !== 'room.join' && f.type !== 'room.leave') return auto?.(sock, f);
      held.push({ sock, frame: f });
      return true;
    };
    const answer = async (): Promise<void> => {
      const next = held.shift();
      expect(next).toBeDefined();
      if (next?.frame.type === 'room.join') auto?.(next.sock, next.frame);
      if (next?.frame.type === 'room.leave') server.ack(next.sock, next.frame, { room: (next.frame.payload as { room: string }).room, wasSubscribed: true });
      await flush();
    };
    const wire = (): string[] =>
      server.received
        .map((r) => r.frame)
        .filter((f) => f.type === 'room.join' || f.type === 'room.leave')
        .map((f) => `${f.type.slice(5)} ${(f.payload as { room: string }).room}`);
    return { manager, server, wire, answer };
  }

  it('make a release and a join while the join before is unanswered (React StrictMode) send nothing more', async () => {
    const { manager, wire, answer } = await holding();
    const a = manager.joinRoom('order-1');
    a.ready.catch(() => {});
    a.release();
    const b = manager.joinRoom('order-1');
    await flush();
    expect(wire()).toEqual(['join order-1']);
    await answer();
    await expect(b.ready).resolves.toMatchObject({ room: 'order-1', joined: true });
    const released = await a.ready.catch((e: unknown) => e);
    expect(released).toBeInstanceOf(RealtimeError);
    expect(released).toMatchObject({ code: 'CANCELLED', retryable: false, message: 'left room order-1 before joining it' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(wire()).toEqual(['join order-1']);
    expect(manager.getSnapshot().rooms['order-1']?.joined).toBe(true);
  });

  it('send a join only once the leave before it is answered', async () => {
    const { manager, wire, answer } = await holding();
    const a = manager.joinRoom('order-1');
    await answer();
    await a.ready;
    a.release();
    await flush();
    const b = manager.joinRoom('order-1');
    await flush();
    expect(wire()).toEqual(['join order-1', 'leave order-1']);
    await answer();
    expect(wire()).toEqual(['join order-1', 'leave order-1', 'join order-1']);
    await answer();
    await expect(b.ready).resolves.toMatchObject({ room: 'order-1', joined: true });
  });

  it('send a leave only once the join before it is answered, and one join for two holders', async () => {
    const { manager, wire, answer } = await holding();
    const a = manager.joinRoom('order-1');
    const b = manager.joinRoom('order-1');
    a.ready.catch(() => {});
    b.ready.catch(() => {});
    await flush();
    expect(wire()).toEqual(['join order-1']);
    a.release();
    b.release();
    await flush();
    expect(wire()).toEqual(['join order-1']);
    await answer();
    expect(wire()).toEqual(['join order-1', 'leave order-1']);
    await answer();
    expect(manager.getSnapshot().rooms['order-1']).toBeUndefined();
  });

  it('do not carry a leave queued on one connection over to the next', async () => {
    const { manager, wire } = await holding();
    const a = manager.joinRoom('order-1');
    a.ready.catch(() => {});
    a.release();
    await flush();
    expect(wire()).toEqual(['join order-1']);
    FakeWebSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(20);
    FakeWebSocket.last.open();
    await vi.advanceTimersByTimeAsync(1000);
    expect(wire()).toEqual(['join order-1']);
    expect(manager.getSnapshot().rooms['order-1']).toBeUndefined();
  });

  it('follow an unanswered join with another when a join meanwhile sets a new location', async () => {
    const { manager, server, answer } = await holding();
    const a = manager.joinRoom('order-1', { location: { page: 'orders' } });
    a.ready.catch(() => {});
    a.release();
    const b = manager.joinRoom('order-1', { location: { page: 'order-1' } });
    await flush();
    const pages = (): string[] => server.framesOfType('room.join').map((f) => (f.payload as { location: { page: string } }).location.page);
    expect(pages()).toEqual(['orders']);
    await answer();
    expect(pages()).toEqual(['orders', 'order-1']);
    await answer();
    await expect(b.ready).resolves.toMatchObject({ joined: true });
    expect(server.framesOfType('room.leave')).toHaveLength(0);
  });
});

describe('tenant list', () => {
  it('reads every page of presence.snapshot, so that users past the first page stay listed', async () => {
    const all = Array.from({ length: 450 }, (_, i) => user(`u${i}`, 'online'));
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type !== 'presence.snapshot') return f.type === 'presence';
        const p = f.payload as { cursor?: string; limit?: number };
        const from = Number(p.cursor ?? 0);
        const page = all.slice(from, from + Math.min(p.limit ?? 100, 200));
        const next = from + page.length < all.length ? { next: String(from + page.length) } : {};
        server.ack(sock, f, { room: '', usersInRoom: page, userCount: all.length, onlineCount: page.length, awayCount: 0, ...next });
        return true;
      },
    });
    const manager = await startedManager(10_000);
    FakeWebSocket.last.receive({ type: 'presence', channel: 'user-presence', payload: { event: 'online', user: user('u440', 'online') } });
    await vi.advanceTimersByTimeAsync(10_001); // the periodic refresh
    const s = manager.getSnapshot();
    expect(s.activeUsers).toHaveLength(450);
    expect(s.onlineCount).toBe(450);
    expect(s.activeUsers.some((u) => u.userId === 'u440')).toBe(true);
    const cursors = server.framesOfType('presence.snapshot').slice(-3).map((f) => (f.payload as { cursor?: string }).cursor);
    expect(cursors).toEqual([undefined, '200', '400']);
  });
});

// room.join replies with the room's first page (100 users by default) and a
// cursor when more follow; presence.snapshot with the room reads the rest.
describe('room members past the first page', () => {
  const id = (i: number): string => `m${String(i).padStart(5, '0')}`;
  const stamp = (s: number): string => new Date(Date.UTC(2026, 10, 25, 10, 0, s)).toISOString();

  /** A server whose room "dash" holds `members`, paged by position as the real one pages by user. */
  async function bigRoom(count: number): Promise<{ manager: PresenceManager; server: FakeServer; members: ReturnType<typeof user>[] }> {
    const members = Array.from({ length: count }, (_, i) => user(id(i), 'online'));
    const server: FakeServer = new FakeServer({
      handler: (sock, f) => {
        const p = (f.payload ?? {}) as { room?: string; cursor?: string; limit?: number };
        if (f.type === 'presence') {
          server.ack(sock, f, { presence: user('u1', 'online'), rooms: [] });
          return true;
        }
        if (f.type !== 'room.join' && f.type !== 'presence.snapshot') return false;
        const list = p.room === 'dash' ? members : [];
        const from = f.type === 'room.join' ? 0 : Number(p.cursor ?? 0);
        const page = list.slice(from, from + (f.type === 'room.join' ? 100 : Math.min(p.limit || 100, 200)));
        const more = from + page.length < list.length ? { next: String(from + page.length), nextCursor: String(from + page.length) } : {};
        server.ack(sock, f, { room: p.room ?? '', usersInRoom: page, userCount: list.length, onlineCount: page.length, awayCount: 0, ...more });
        return true;
      },
    });
    return { manager: await startedManager(0), server, members };
  }
  const dash = (manager: PresenceManager) => {
    const r = manager.getSnapshot().rooms['dash'];
    return { ids: r?.usersInRoom.map((u) => u.userId) ?? [], userCount: r?.userCount };
  };

  it('lists every member of a room whose join reply is paged', async () => {
    const { manager, server } = await bigRoom(250);
    await manager.joinRoom('dash').ready;
    await flush();
    const r = dash(manager);
    expect(r.ids).toHaveLength(250);
    expect(r.ids).toContain(id(249));
    expect(r.userCount).toBe(250);
    const reads = server.framesOfType('presence.snapshot').filter((f) => (f.payload as { room?: string }).room === 'dash');
    expect(reads.map((f) => (f.payload as { cursor?: string }).cursor)).toEqual(['100']);
  });

  it('keeps, after a rejoin whose reply is paged, a member known from an event who is not on the first page', async () => {
    const { manager, members } = await bigRoom(150);
    await manager.joinRoom('dash').ready;
    await flush();
    // Another user enters the room; the server lists them after the first page.
    const late = user(id(150), 'online');
    members.push(late);
    FakeWebSocket.last.receive({ type: 'presence', channel: 'room:dash', timestamp: stamp(1), payload: { event: 'join', room: 'dash', user: late } });
    expect(dash(manager).ids).toContain(id(150));
    // The connection drops; meanwhile a member past the first page leaves unseen.
    FakeWebSocket.last.serverClose(1006);
    members.splice(120, 1);
    await vi.advanceTimersByTimeAsync(20);
    FakeWebSocket.last.open();
    await flush();
    await flush();
    const r = dash(manager);
    expect(r.ids).toContain(id(150));
    expect(r.ids).not.toContain(id(120));
    expect(r.ids).toHaveLength(150);
    expect(r.userCount).toBe(150);
    expect(manager.getSnapshot().rooms['dash']?.joined).toBe(true);
  });

  it('lets leaves that arrive while the later pages are read win over those pages', async () => {
    const { manager, server, members } = await bigRoom(250);
    const auto = server.handler;
    const held: (() => void)[] = [];
    server.handler = (sock, f) => {
      if (f.type !== 'presence.snapshot') return auto?.(sock, f);
      // The page is read now; its reply arrives later.
      const snapshot = [...members];
      held.push(() => {
        const now = members.splice(0, members.length, ...snapshot);
        auto?.(sock, f);
        members.splice(0, members.length, ...now);
      });
      return true;
    };
    const { ready } = manager.joinRoom('dash');
    await ready;
    expect(dash(manager).ids).toHaveLength(100);
    expect(dash(manager).userCount).toBe(250);
    // Two members leave: one on the first page, one on the page being read.
    for (const i of [50, 200]) {
      members.splice(members.findIndex((u) => u.userId === id(i)), 1);
      FakeWebSocket.last.receive({ type: 'presence', channel: 'room:dash', timestamp: stamp(2), payload: { event: 'leave', room: 'dash', user: user(id(i), 'offline') } });
    }
    expect(held).toHaveLength(1);
    held.shift()?.();
    await flush();
    const r = dash(manager);
    expect(r.ids).toHaveLength(248);
    expect(r.ids).not.toContain(id(50));
    expect(r.ids).not.toContain(id(200));
    expect(r.userCount).toBe(248);
    // An update older than the leave does not bring the member back.
    FakeWebSocket.last.receive({ type: 'presence', channel: 'room:dash', timestamp: stamp(1), payload: { event: 'update', room: 'dash', user: user(id(200), 'online') } });
    expect(dash(manager).ids).not.toContain(id(200));
  });

  it('reads at most 50 pages of a room, keeping the members it knows past them', async () => {
    const { manager, server, members } = await bigRoom(10_500);
    await manager.joinRoom('dash').ready;
    await flush();
    // 100 on the join's page, 49 pages of 200.
    expect(server.framesOfType('presence.snapshot').filter((f) => (f.payload as { room?: string }).room === 'dash')).toHaveLength(49);
    expect(dash(manager).ids).toHaveLength(9_900);
    expect(dash(manager).userCount).toBe(10_500);
    const last = members.at(-1);
    FakeWebSocket.last.receive({ type: 'presence', channel: 'room:dash', timestamp: stamp(3), payload: { event: 'update', room: 'dash', user: last } });
    FakeWebSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(20);
    FakeWebSocket.last.open();
    for (let i = 0; i < 5; i++) await flush();
    expect(dash(manager).ids).toContain(last?.userId);
    expect(dash(manager).ids).toHaveLength(9_901);
    expect(dash(manager).userCount).toBe(10_500);
  });
});

// The server delivers events at least once, and in AWS the events of
// separate invocations may arrive in another order than they happened. A
// room's presence events carry the server's time of the change (the
// envelope's timestamp).
describe('room events out of order', () => {
  const at = (s: number): string => new Date(Date.UTC(2026, 10, 25, 10, 0, s)).toISOString();
  const roomEvent = (event: string, u: ReturnType<typeof user> & { activity?: string }, s: number) =>
    ({ type: 'presence', channel: 'room:dash', timestamp: at(s), payload: { event, room: 'dash', user: u } }) as const;
  const members = (manager: PresenceManager) => {
    const r = manager.getSnapshot().rooms['dash'];
    return { users: r?.usersInRoom.map((u) => `${u.userId}${u.activity ? `:${u.activity}` : ''}`), userCount: r?.userCount };
  };
  const inDash = async (): Promise<{ manager: PresenceManager; sock: FakeWebSocket }> => {
    const { manager } = await setup();
    await manager.joinRoom('dash').ready;
    return { manager, sock: FakeWebSocket.last };
  };

  it('do not bring back a member who left with an update older than the leave', async () => {
    const { manager, sock } = await inDash();
    sock.receive(roomEvent('join', user('u2', 'online'), 1));
    // Ben sets his activity and closes the tab at once; the leave's fan-out overtakes the update's.
    sock.receive(roomEvent('leave', user('u2', 'offline'), 3));
    sock.receive(roomEvent('update', { ...user('u2', 'online'), activity: 'editing' }, 2));
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(members(manager)).toEqual({ users: [], userCount: 0 });
    expect(manager.getSnapshot().activeUsers.map((u) => u.activity ?? '')).not.toContain('editing');
  });

  it('do not bring back a member who left with a join older than the leave, and take a later join or update as a return', async () => {
    const { manager, sock } = await inDash();
    sock.receive(roomEvent('leave', user('u2', 'offline'), 5));
    sock.receive(roomEvent('join', user('u2', 'online'), 4));
    sock.receive(roomEvent('leave', user('u3', 'offline'), 5));
    expect(members(manager)).toEqual({ users: [], userCount: 0 });
    // Ben comes back; Cleo's join was lost, and her next update, well past
    // her leave (more than server clocks may be apart), says she is in the room.
    sock.receive(roomEvent('join', user('u2', 'online'), 6));
    sock.receive(roomEvent('update', { ...user('u3', 'online'), activity: 'reading' }, 11));
    expect(members(manager)).toEqual({ users: ['u2', 'u3:reading'], userCount: 2 });
  });

  it('do not take a member out of the room with a leave older than their return, nor undo an update with an older one', async () => {
    const { manager, sock } = await inDash();
    sock.receive(roomEvent('join', user('u2', 'online'), 1));
    // Ben reloads: his new tab's join overtakes the old tab's leave; a leave delivered again comes later still.
    sock.receive(roomEvent('join', user('u2', 'online'), 3));
    sock.receive(roomEvent('leave', user('u2', 'offline'), 2));
    sock.receive(roomEvent('update', { ...user('u2', 'online'), activity: 'editing' }, 5));
    sock.receive(roomEvent('update', { ...user('u2', 'online'), activity: 'reading' }, 4));
    sock.receive(roomEvent('leave', user('u2', 'offline'), 2));
    expect(members(manager)).toEqual({ users: ['u2:editing'], userCount: 1 });
  });

  it('drop the cursor of a member who left and ignore their cursors older than the leave', async () => {
    const { manager, sock } = await inDash();
    const cursor = (userId: string, x: number, s: number) =>
      ({ type: 'cursor', channel: 'room:dash', userId, timestamp: at(s), payload: { room: 'dash', userId, username: userId, x, y: x } }) as const;
    const cursors = (): string[] => (manager.getSnapshot().rooms['dash']?.cursors ?? []).map((c) => `${c.userId}@${c.x}`);
    const drawn: string[] = [];
    manager.on('cursor', (c) => drawn.push(`${c.userId}@${c.x}`));
    sock.receive(roomEvent('join', user('u2', 'online'), 1));
    sock.receive(cursor('u2', 1, 2));
    // Ben moves once more and closes the tab; the leave's fan-out overtakes the cursor's.
    sock.receive(roomEvent('leave', user('u2', 'offline'), 4));
    sock.receive(cursor('u2', 5, 3));
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(cursors()).toEqual([]);
    expect(drawn).toEqual(['u2@1']);
    // Back in the room, his cursor shows again; so does one of a member this client has not seen join.
    sock.receive(roomEvent('join', user('u2', 'online'), 5));
    sock.receive(cursor('u2', 6, 6));
    sock.receive(cursor('u3', 7, 6));
    expect(cursors()).toEqual(['u2@6', 'u3@7']);
  });

  // Timestamps come from different server instances (clocks milliseconds or
  // more apart), and are the announcing handler's time, not the change's.
  it('take a return stamped the same millisecond as the leave', async () => {
    const { manager, sock } = await inDash();
    sock.receive(roomEvent('join', user('u2', 'online'), 1));
    sock.receive(roomEvent('leave', user('u2', 'offline'), 5));
    sock.receive(roomEvent('join', user('u2', 'online'), 5));
    expect(members(manager)).toEqual({ users: ['u2'], userCount: 1 });
  });

  it.each([
    ['the leave first', true],
    ['the update first', false],
  ])("take a leave stamped just before an update from a server whose clock runs ahead, with %s", async (_name, leaveFirst) => {
    const { manager, sock } = await inDash();
    const ms = (n: number): string => new Date(Date.UTC(2026, 10, 25, 10, 0, 5) + n).toISOString();
    sock.receive(roomEvent('join', user('u2', 'online'), 1));
    // Ben closes the tab: an 'away' update, then the leave a moment later on another instance.
    const update = { ...roomEvent('update', { ...user('u2', 'away'), activity: 'idle' }, 0), timestamp: ms(2) };
    const leave = { ...roomEvent('leave', user('u2', 'offline'), 0), timestamp: ms(0) };
    for (const f of leaveFirst ? [leave, update] : [update, leave]) sock.receive(f);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(members(manager)).toEqual({ users: [], userCount: 0 });
  });

  it('keep a bounded memory of the members who left', async () => {
    const { manager, sock } = await inDash();
    for (let i = 0; i < 600; i++) {
      sock.receive(roomEvent('join', user(`r${i}`, 'online'), 1));
      sock.receive(roomEvent('leave', user(`r${i}`, 'offline'), 2));
    }
    const internals = manager as unknown as { rooms: Map<string, { left: Map<string, number>; times: Map<string, number> }> };
    expect(internals.rooms.get('dash')?.left.size).toBeLessThanOrEqual(500);
    expect(internals.rooms.get('dash')?.times.size).toBe(0);
    // The latest leaves are remembered.
    sock.receive(roomEvent('update', user('r599', 'online'), 1));
    expect(members(manager)).toEqual({ users: [], userCount: 0 });
  });
});
