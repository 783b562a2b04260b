// @vitest-environment happy-dom
import { act, cleanup, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_AVATAR_BYTES, MAX_LOCATION_BYTES, RealtimeError, WebSocketClient } from '../src/index.js';
import { useOnlineStatus, usePresence, useRoomPresence } from '../src/react/index.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

// The presence hooks against a fake server: what they send.

async function settle(ms = 0): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

/** A connected client whose server answers presence, room.join and presence.snapshot. */
async function setup() {
  const server: FakeServer = new FakeServer({
    handler: (sock, f) => {
      const p = (f.payload ?? {}) as Record<string, unknown>;
      switch (f.type) {
        case 'room.join':
        case 'presence.snapshot':
          server.ack(sock, f, { room: p['room'] ?? '', usersInRoom: [], userCount: 0, onlineCount: 0, awayCount: 0 });
          return true;
        case 'presence':
          server.ack(sock, f, { presence: { userId: 'u1', username: 'Ann', status: 'online', lastSeen: '', currentLocation: p['location'] }, rooms: [] });
          return true;
      }
      return false;
    },
  });
  const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
    maxConnectionAge: 0, rateLimit: false, random: () => 0.5 });
  client.connect();
  FakeWebSocket.last.open();
  await settle();
  return { server, client };
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

describe('useRoomPresence', () => {
  it('sends its page, section and avatar with the join when another hook created the presence manager', async () => {
    const { server, client } = await setup();
    renderHook(() => usePresence({ wsClient: client, userId: 'u1', username: 'Ann', initialPage: 'dashboard' }));
    await settle();
    renderHook(() => useRoomPresence(client, 'u1', 'Ann', 'product-9', { page: 'products', section: 'product-9', avatar: 'ann.png' }));
    await settle();
    const joins = server.framesOfType('room.join');
    expect(joins).toHaveLength(1);
    expect(joins[0]?.payload).toMatchObject({ room: 'product-9', location: { page: 'products', section: 'product-9' }, avatar: 'ann.png' });
  });

  it('sends a new location as a presence update when the room is already joined', async () => {
    const { server, client } = await setup();
    renderHook(() => useRoomPresence(client, 'u1', 'Ann', 'order-1', { page: 'orders', section: 'list' }));
    await settle();
    const updates = server.framesOfType('presence').length;
    renderHook(() => useRoomPresence(client, 'u1', 'Ann', 'order-1', { page: 'orders', section: 'order-1' }));
    await settle();
    expect(server.framesOfType('room.join')).toHaveLength(1);
    const sent = server.framesOfType('presence').slice(updates);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.payload).toMatchObject({ location: { page: 'orders', section: 'order-1' } });
  });
});

describe('usePresence with options the server would refuse', () => {
  const tooLong = '\u{1F600}'.repeat(MAX_LOCATION_BYTES / 4 + 1); // 4 UTF-8 bytes each: one code point over

  it('reports BAD_REQUEST in error instead of throwing, when it creates the manager', async () => {
    const { server, client } = await setup();
    const { result } = renderHook(() => usePresence({ wsClient: client, userId: 'u1', username: 'Ann', initialPage: tooLong }));
    await settle();
    expect(result.current.error).toBeInstanceOf(RealtimeError);
    expect((result.current.error as RealtimeError).code).toBe('BAD_REQUEST');
    const pages = server.framesOfType('presence').map((f) => (f.payload as { location?: { page?: string } }).location?.page);
    expect(pages).not.toContain(tooLong);
    act(() => result.current.setStatus('away')); // the manager works without the refused page
    await settle();
    expect(server.framesOfType('presence').at(-1)?.payload).toMatchObject({ status: 'away' });
  });

  it('reports BAD_REQUEST for an awayTimeout that is not a number of ms >= 0, and the manager keeps its default', async () => {
    const { server, client } = await setup();
    const { result } = renderHook(() => usePresence({ wsClient: client, userId: 'u1', username: 'Ann', awayTimeout: Number.NaN }));
    await settle(1000);
    expect((result.current.error as RealtimeError | null)?.code).toBe('BAD_REQUEST');
    expect((result.current.error as RealtimeError).message).toContain('awayTimeout');
    // NaN would have made the user away at once; the default 5 minutes holds.
    expect(server.framesOfType('presence').map((f) => (f.payload as { status?: string }).status)).not.toContain('away');
  });

  it('keeps a valid awayTimeout when another option is refused', async () => {
    const { server, client } = await setup();
    const tooBig = 'a'.repeat(MAX_AVATAR_BYTES + 1);
    const { result } = renderHook(() => usePresence({ wsClient: client, userId: 'u1', username: 'Ann', avatar: tooBig, awayTimeout: 1000 }));
    await settle(3000);
    expect((result.current.error as RealtimeError | null)?.code).toBe('BAD_REQUEST');
    expect(server.framesOfType('presence').map((f) => (f.payload as { status?: string }).status)).toContain('away');
  });

  it('reports BAD_REQUEST in error when another hook created the manager, and keeps the page set before', async () => {
    const { server, client } = await setup();
    renderHook(() => usePresence({ wsClient: client, userId: 'u1', username: 'Ann', initialPage: 'dashboard' }));
    await settle();
    const { result } = renderHook(() => usePresence({ wsClient: client, initialPage: tooLong }));
    await settle();
    expect((result.current.error as RealtimeError | null)?.code).toBe('BAD_REQUEST');
    const pages = server.framesOfType('presence').map((f) => (f.payload as { location?: { page?: string } }).location?.page);
    expect(pages).not.toContain(tooLong);
    expect(result.current.manager.getSnapshot().currentUser?.currentLocation?.page).toBe('dashboard');
  });

  it('keeps reporting a refused avatar at every render while the prop stays, and clears it with the prop', async () => {
    const { server, client } = await setup();
    const tooBig = 'https://cdn.example/' + 'a'.repeat(MAX_AVATAR_BYTES);
    const codes: (string | undefined)[] = [];
    const { result, rerender } = renderHook(
      ({ avatar }) => {
        const r = usePresence({ wsClient: client, userId: 'u1', username: 'Ann', avatar });
        codes.push((r.error as RealtimeError | null)?.code);
        return r;
      },
      { initialProps: { avatar: tooBig } },
    );
    await settle();
    rerender({ avatar: tooBig }); // any re-render: a parent's state, a presence event...
    await settle();
    expect(codes.length).toBeGreaterThan(1);
    expect(codes.every((c) => c === 'BAD_REQUEST')).toBe(true);
    expect(server.framesOfType('presence').map((f) => (f.payload as { avatar?: string }).avatar)).not.toContain(tooBig);
    rerender({ avatar: 'ann.png' });
    expect(result.current.error).toBeNull();
  });

  it('keeps reporting a refused initialSection given without initialPage', async () => {
    const { client } = await setup();
    const { result, rerender } = renderHook(() => usePresence({ wsClient: client, userId: 'u1', initialSection: tooLong }));
    await settle();
    rerender();
    expect((result.current.error as RealtimeError | null)?.code).toBe('BAD_REQUEST');
  });

  it('reports a refused avatar when another hook created the manager', async () => {
    const { client } = await setup();
    renderHook(() => usePresence({ wsClient: client, userId: 'u1', username: 'Ann' }));
    await settle();
    const { result } = renderHook(() => usePresence({ wsClient: client, avatar: 'x'.repeat(MAX_AVATAR_BYTES + 1) }));
    await settle();
    expect((result.current.error as RealtimeError | null)?.code).toBe('BAD_REQUEST');
  });
});

describe('useOnlineStatus', () => {
  it('keeps lastOnlineAt the same while connected, and moves it when the connection goes down', async () => {
    new FakeServer(); // answers hello
    const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
      maxConnectionAge: 0, rateLimit: false, random: () => 0.5 });
    const h = renderHook(() => useOnlineStatus(client));
    expect(h.result.current.lastOnlineAt).toBeNull();
    client.connect();
    act(() => FakeWebSocket.last.open());
    await settle();
    expect(h.result.current.connected).toBe(true);
    const opened = h.result.current.lastOnlineAt;
    expect(opened).not.toBeNull();
    await settle(5_000);
    h.rerender();
    expect(h.result.current.lastOnlineAt).toBe(opened);
    act(() => FakeWebSocket.last.serverClose());
    await settle();
    expect(h.result.current.connected).toBe(false);
    expect(h.result.current.lastOnlineAt?.getTime()).toBeGreaterThan(opened?.getTime() ?? Infinity);
    client.destroy();
  });

  it('reports when the connection opened or went down, also to a component mounted later', async () => {
    new FakeServer(); // answers hello
    const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
      maxConnectionAge: 0, rateLimit: false, random: () => 0.5, reconnect: false });
    vi.setSystemTime(new Date('2024-05-01T09:00:00Z'));
    client.connect();
    act(() => FakeWebSocket.last.open());
    await settle();
    expect(client.getSnapshot().lastOpenedAt?.toISOString()).toBe('2024-05-01T09:00:00.000Z');
    expect(client.getSnapshot().lastClosedAt).toBeNull();

    // Mounted ten minutes after the connection opened.
    await settle(10 * 60_000);
    const late = renderHook(() => useOnlineStatus(client));
    expect(late.result.current.connected).toBe(true);
    expect(late.result.current.lastOnlineAt?.toISOString()).toBe('2024-05-01T09:00:00.000Z');

    await settle(60_000);
    act(() => FakeWebSocket.last.serverClose());
    await settle();
    expect(client.getSnapshot().lastClosedAt?.toISOString()).toBe('2024-05-01T09:11:00.000Z');
    expect(late.result.current.connected).toBe(false);
    expect(late.result.current.lastOnlineAt?.toISOString()).toBe('2024-05-01T09:11:00.000Z');

    // Mounted after the drop: it went down at 09:11, not "never".
    await settle(5 * 60_000);
    const afterDrop = renderHook(() => useOnlineStatus(client));
    expect(afterDrop.result.current.connected).toBe(false);
    expect(afterDrop.result.current.lastOnlineAt?.toISOString()).toBe('2024-05-01T09:11:00.000Z');
    // The same Date in every component and across renders.
    afterDrop.rerender();
    expect(afterDrop.result.current.lastOnlineAt).toBe(late.result.current.lastOnlineAt);
    client.destroy();
  });
});
