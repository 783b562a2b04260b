// @vitest-environment happy-dom
import { Activity, StrictMode, type ReactNode } from 'react';
import { act, cleanup, render, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions, type WebSocketMessage } from '../src/index.js';
import {
  useWebSocket,
  useWebSocketChannel,
  useWebSocketMessages,
  useWebSocketStatus,
  type UseWebSocketResult,
} from '../src/react/index.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

const base: Omit<WebSocketClientOptions, 'url'> = {
  WebSocketImpl: FakeWebSocket,
  heartbeatInterval: 0,
  maxConnectionAge: 0,
  rateLimit: false,
  random: () => 0.5,
};

/** Lets timers, microtasks and React updates run. */
async function settle(ms = 0): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

/** How a promise settled so far: `pending`, `resolved`, or `rejected CODE`. */
function outcome(p: Promise<unknown>): { state: string } {
  const o = { state: 'pending' };
  p.then(
    () => (o.state = 'resolved'),
    (err: { code?: string }) => (o.state = `rejected ${String(err.code)}`),
  );
  return o;
}

async function openLast(): Promise<FakeWebSocket> {
  const sock = FakeWebSocket.last;
  act(() => sock.open());
  await settle();
  return sock;
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

describe('useWebSocket', () => {
  it('connects on mount, follows the connection and disconnects on unmount', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'publish'] });
    const { result, unmount } = renderHook(() => useWebSocket({ url: 'ws://test.invalid/ws', ...base }));
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(result.current.status).toBe('connecting');
    expect(result.current.connecting).toBe(true);
    expect(result.current.connected).toBe(false);

    // Requested before the socket opens: counted as queued.
    let published: Promise<unknown> = Promise.resolve();
    act(() => {
      published = result.current.publish('order-updates', { id: 1 });
    });
    expect(result.current.queuedMessages).toBe(1);

    const sock = await openLast();
    expect(result.current.status).toBe('open');
    expect(result.current.connected).toBe(true);
    expect(result.current.disconnected).toBe(false);
    expect(result.current.queuedMessages).toBe(0);
    expect(result.current.session?.userId).toBe('u1');
    expect(result.current.latency).toBe(0);
    await expect(published).resolves.toEqual({});

    await act(async () => {
      await result.current.subscribe('order-updates');
    });
    expect(result.current.subscriptions).toEqual(['order-updates']);
    expect(server.framesOfType('subscribe')).toHaveLength(1);

    act(() => sock.serverClose());
    expect(result.current.status).toBe('reconnecting');
    expect(result.current.connecting).toBe(true);

    const client = result.current.client;
    unmount();
    expect(client.state).toBe('closed');
  });

  it('calls the latest callbacks and exposes on()', async () => {
    new FakeServer();
    const seen: string[] = [];
    const { result, rerender } = renderHook(
      ({ tag }: { tag: string }) =>
        useWebSocket({
          url: 'ws://test.invalid/ws',
          ...base,
          onMessage: (m) => seen.push(`${tag}:${String(m.payload)}`),
          onOpen: () => seen.push(`${tag}:open`),
        }),
      { initialProps: { tag: 'a' } },
    );
    const sock = await openLast();
    act(() => sock.receive({ type: 'update', channel: 'c', payload: 1 }));
    rerender({ tag: 'b' });
    act(() => sock.receive({ type: 'update', channel: 'c', payload: 2 }));
    expect(seen).toEqual(['a:open', 'a:1', 'b:2']);

    const viaOn: unknown[] = [];
    const off = result.current.on('message', (m) => viaOn.push(m.payload));
    act(() => sock.receive({ type: 'update', channel: 'c', payload: 3 }));
    off();
    act(() => sock.receive({ type: 'update', channel: 'c', payload: 4 }));
    expect(viaOn).toEqual([3]);
    // The client stays the same across renders.
    const client = result.current.client;
    rerender({ tag: 'c' });
    expect(result.current.client).toBe(client);
  });

  it('uses a given client without connecting or disconnecting it, unless asked', async () => {
    new FakeServer();
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base });
    const { result, unmount } = renderHook(() => useWebSocket(client));
    expect(result.current.client).toBe(client);
    expect(result.current.status).toBe('idle');
    expect(result.current.disconnected).toBe(true);
    expect(FakeWebSocket.instances).toHaveLength(0);
    act(() => result.current.connect());
    await openLast();
    expect(result.current.connected).toBe(true);
    unmount();
    expect(client.state).toBe('open');

    const auto = new WebSocketClient({ url: 'ws://test.invalid/other', ...base });
    renderHook(() => useWebSocket({ client: auto, autoConnect: true }));
    expect(auto.state).toBe('connecting');
    client.destroy();
    auto.destroy();
  });

  it('replaces its client when the url changes', async () => {
    new FakeServer();
    const { result, rerender } = renderHook(({ url }: { url: string }) => useWebSocket({ url, ...base }), {
      initialProps: { url: 'ws://one.invalid' },
    });
    const first = result.current.client;
    await openLast();
    rerender({ url: 'ws://two.invalid' });
    expect(result.current.client).not.toBe(first);
    expect(first.state).toBe('closed');
    expect(FakeWebSocket.last.url).toBe('ws://two.invalid');
    expect(result.current.status).toBe('connecting');
  });

  it('destroys a client it replaced or let go of: its pending requests reject with CLIENT_DESTROYED', async () => {
    new FakeServer({ autoAck: ['hello'] }); // subscribe and publish are never answered
    const { result, rerender, unmount } = renderHook(({ url }: { url: string }) => useWebSocket({ url, ...base }), {
      initialProps: { url: 'ws://test.invalid/ws?token=t1' },
    });
    // Offline: the publish is queued, the subscribe waits for a connection.
    const first = result.current.client;
    const queued = outcome(result.current.publish('order-updates', { id: 1 }));
    const waiting = outcome(result.current.subscribe('order-updates'));
    rerender({ url: 'ws://test.invalid/ws?token=t2' }); // say, a new token in the URL
    await settle(600_000);
    expect(result.current.client).not.toBe(first);
    expect(queued.state).toBe('rejected CLIENT_DESTROYED');
    expect(waiting.state).toBe('rejected CLIENT_DESTROYED');
    expect(first.queuedMessages).toBe(0);
    expect([...first.subscriptions]).toEqual([]);

    // Open, with a subscribe in flight that the unmount leaves unanswered.
    const second = result.current.client;
    await openLast();
    const inFlight = outcome(result.current.subscribe('order-updates'));
    await settle();
    unmount();
    await settle(600_000);
    expect(inFlight.state).toBe('rejected CLIENT_DESTROYED');
    expect(second.state).toBe('closed');
    expect(() => second.connect()).toThrow(/after destroy/);
  });

  it('works under StrictMode (mount, unmount, mount)', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'publish'] });
    // StrictMode itself as the wrapper: under a component mounted with it,
    // React would not run the effects twice.
    const clients = new Set<WebSocketClient>();
    const { result, unmount } = renderHook(
      () => {
        const ws = useWebSocket({ url: 'ws://test.invalid/ws', ...base });
        clients.add(ws.client);
        return ws;
      },
      { wrapper: StrictMode },
    );
    const live = FakeWebSocket.instances.filter((s) => s.closedWith === null);
    expect(live).toHaveLength(1);
    await openLast();
    expect(result.current.connected).toBe(true);
    // The client let go of by the simulated unmount was taken back, not
    // destroyed and replaced.
    expect([...clients]).toEqual([result.current.client]);
    const published = outcome(result.current.publish('order-updates', { id: 1 }));
    await settle();
    expect(published.state).toBe('resolved');
    expect(server.framesOfType('publish')).toHaveLength(1);

    const waiting = outcome(result.current.subscribe('order-updates'));
    unmount();
    await settle();
    expect(waiting.state).toBe('rejected CLIENT_DESTROYED');
  });

  it('makes a new client when a hidden Activity is shown again', async () => {
    new FakeServer({ autoAck: ['hello'] });
    let hook: UseWebSocketResult | null = null;
    function Conn(): null {
      hook = useWebSocket({ url: 'ws://test.invalid/ws', ...base });
      return null;
    }
    const view = (mode: 'visible' | 'hidden'): ReactNode => (
      <Activity mode={mode}>
        <Conn />
      </Activity>
    );
    const { rerender } = render(view('visible'));
    await openLast();
    const first = hook!.client;
    const waiting = outcome(first.subscribe('order-updates'));
    rerender(view('hidden'));
    await settle();
    expect(waiting.state).toBe('rejected CLIENT_DESTROYED');
    rerender(view('visible'));
    await settle();
    expect(hook!.client).not.toBe(first);
    expect(hook!.status).toBe('connecting');
    const sock = await openLast();
    expect(hook!.connected).toBe(true);
    expect(sock.closedWith).toBeNull();
  });
});

describe('useWebSocketChannel', () => {
  it('subscribes while mounted, collects messages and publishes', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'unsubscribe', 'publish'] });
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base });
    client.connect();
    const sock = await openLast();
    const got: unknown[] = [];
    const { result, unmount } = renderHook(() =>
      useWebSocketChannel<{ orderId: string }>(client, 'order-updates', (m) => got.push(m.payload), { maxMessages: 2 }),
    );
    expect(result.current.subscribed).toBe(false);
    await settle();
    expect(result.current.subscribed).toBe(true);
    expect(server.framesOfType('subscribe').map((f) => f.channel)).toEqual(['order-updates']);

    act(() => {
      sock.receive({ type: 'update', channel: 'order-updates', payload: { orderId: '1' } });
      sock.receive({ type: 'update', channel: 'inventory-updates', payload: { sku: 'x' } });
      sock.receive({ type: 'update', channel: 'order-updates', payload: { orderId: '2' } });
      sock.receive({ type: 'update', channel: 'order-updates', payload: { orderId: '3' } });
    });
    expect(result.current.messages.map((m) => m.payload?.orderId)).toEqual(['2', '3']);
    expect(result.current.lastMessage?.payload).toEqual({ orderId: '3' });
    expect(got).toHaveLength(3);

    await act(async () => {
      await result.current.publish({ orderId: '4' });
    });
    expect(server.framesOfType('publish')[0]).toMatchObject({ channel: 'order-updates', payload: { orderId: '4' } });

    act(() => result.current.clear());
    expect(result.current.messages).toEqual([]);

    unmount();
    await settle();
    expect(server.framesOfType('unsubscribe').map((f) => f.channel)).toEqual(['order-updates']);
    expect(client.subscriptions.size).toBe(0);
    client.destroy();
  });

  it('keeps a channel subscribed while any component still uses it', async () => {
    const server = new FakeServer();
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base });
    client.connect();
    await openLast();
    function Viewer({ channel }: { channel: string }): ReactNode {
      const { messages } = useWebSocketChannel(client, channel);
      return <span>{messages.length}</span>;
    }
    const a = render(<Viewer channel="order:1" />);
    const b = render(<Viewer channel="order:1" />);
    await settle();
    expect(server.framesOfType('subscribe')).toHaveLength(1);
    a.unmount();
    await settle();
    expect(server.framesOfType('unsubscribe')).toHaveLength(0);
    expect(client.subscriptions.has('order:1')).toBe(true);
    b.unmount();
    await settle();
    expect(server.framesOfType('unsubscribe')).toHaveLength(1);
    client.destroy();
  });

  it('follows a channel change and skips a null channel', async () => {
    const server = new FakeServer();
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base });
    client.connect();
    await openLast();
    const { result, rerender } = renderHook(({ ch }: { ch: string | null }) => useWebSocketChannel(client, ch), {
      initialProps: { ch: null as string | null },
    });
    await settle();
    expect(server.framesOfType('subscribe')).toHaveLength(0);
    await expect(result.current.publish('x')).rejects.toThrow();
    rerender({ ch: 'order:1' });
    await settle();
    rerender({ ch: 'order:2' });
    await settle();
    expect(server.framesOfType('subscribe').map((f) => f.channel)).toEqual(['order:1', 'order:2']);
    expect(server.framesOfType('unsubscribe').map((f) => f.channel)).toEqual(['order:1']);
    expect(result.current.subscribed).toBe(true);
    client.destroy();
  });

  it('shows subscribed only once a resubscribe after a reconnect is acknowledged, also when it was retried', async () => {
    let dropNext = false;
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type !== 'subscribe' || !dropNext) return false;
        dropNext = false; // a Lambda failure: API Gateway's own frame, no reply
        queueMicrotask(() => sock.receiveRaw(JSON.stringify({ message: 'Internal server error', connectionId: 'c', requestId: 'r' })));
        return true;
      },
    });
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base, reconnectInterval: 10, requestTimeout: 5_000 });
    client.on('error', () => {});
    client.connect();
    await openLast();
    const { result } = renderHook(() => useWebSocketChannel(client, 'order-updates'));
    await settle();
    expect(result.current.subscribed).toBe(true);
    dropNext = true;
    act(() => FakeWebSocket.last.serverClose(1001, 'Going away'));
    await settle(50);
    await openLast();
    expect(result.current.subscribed).toBe(false);
    await settle(5_000); // the resubscribe times out: ready, the channel kept, a retry after the backoff
    expect(client.subscriptions.has('order-updates')).toBe(true);
    expect(result.current.subscribed).toBe(false); // not acknowledged on this connection
    await settle(2_000);
    expect(server.framesOfType('subscribe').map((f) => f.channel)).toEqual(['order-updates', 'order-updates', 'order-updates']);
    expect(result.current.subscribed).toBe(true);
    client.destroy();
  });

  it('reports a refused subscription', async () => {
    const server = new FakeServer();
    server.handler = (sock, f) => {
      if (f.type !== 'subscribe') return false;
      server.error(sock, f, 'FORBIDDEN');
      return true;
    };
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base });
    client.connect();
    await openLast();
    const { result } = renderHook(() => useWebSocketChannel(client, 'pricing-updates'));
    await settle();
    expect(result.current.subscribed).toBe(false);
    expect(result.current.error?.code).toBe('FORBIDDEN');
    client.destroy();
  });

  it('accepts a useWebSocket result as its source', async () => {
    new FakeServer();
    const { result } = renderHook(() => {
      const ws = useWebSocket({ url: 'ws://test.invalid/ws', ...base });
      const channel = useWebSocketChannel(ws, 'activity-feed');
      return { ws, channel };
    });
    const sock = await openLast();
    expect(result.current.channel.subscribed).toBe(true);
    act(() => sock.receive({ type: 'activity', channel: 'activity-feed', payload: { action: 'viewed' } }));
    expect(result.current.channel.messages).toHaveLength(1);
    expect(FakeWebSocket.instances).toHaveLength(1);

    // Not subscribed while the connection is down; subscribed again once resubscribed.
    act(() => sock.serverClose());
    expect(result.current.channel.subscribed).toBe(false);
    await settle(1000);
    const next = await openLast();
    expect(next.framesOfType('subscribe').map((f) => f.channel)).toEqual(['activity-feed']);
    expect(result.current.channel.subscribed).toBe(true);
  });
});

describe('useWebSocketMessages and useWebSocketStatus', () => {
  it('collects filtered messages', async () => {
    new FakeServer();
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base });
    client.connect();
    const sock = await openLast();
    const calls: WebSocketMessage[] = [];
    const { result } = renderHook(() =>
      useWebSocketMessages(client, (m) => calls.push(m), { filter: (m) => m.type === 'notification' }),
    );
    act(() => {
      sock.receive({ type: 'notification', payload: { text: 'hi' } });
      sock.receive({ type: 'update', channel: 'c', payload: 1 });
      sock.receive({ type: 'notification', payload: { text: 'there' } });
    });
    expect(result.current.messages.map((m) => m.payload)).toEqual([{ text: 'hi' }, { text: 'there' }]);
    expect(calls).toHaveLength(2);
    act(() => result.current.clear());
    expect(result.current.lastMessage).toBeNull();
    client.destroy();
  });

  it('reports status only, re-rendering on changes', async () => {
    new FakeServer();
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base, reconnectInterval: 100 });
    const { result } = renderHook(() => useWebSocketStatus(client));
    expect(result.current).toEqual({
      status: 'idle',
      connected: false,
      connecting: false,
      disconnected: true,
      latency: null,
      queuedMessages: 0,
    });
    act(() => client.connect());
    const sock = await openLast();
    expect(result.current.connected).toBe(true);
    act(() => sock.serverClose());
    expect(result.current.status).toBe('reconnecting');
    act(() => {
      void client.request('change').catch(() => {});
    });
    expect(result.current.queuedMessages).toBe(1);
    await settle(100);
    await openLast();
    expect(result.current.status).toBe('open');
    expect(result.current.queuedMessages).toBe(0);
    client.destroy();
  });
});

// The server delivers events at least once, and a notify sent again reaches
// its recipients again with the same id (PROTOCOL.md, "notify →
// notification event"): a repeat of a message (same type, channel, sender
// and messageId) is dropped.
describe('repeated messages', () => {
  const notification = {
    type: 'notification',
    channel: 'notifications',
    userId: 'admin',
    messageId: 'ntf-7b2e4c6a8d0f1e3a5c7b9d1f',
    payload: { id: 'ntf-7b2e4c6a8d0f1e3a5c7b9d1f', title: 'Stock low', level: 'warning', createdAt: '2026-11-25T10:07:00.000Z' },
  };
  const connected = async (): Promise<{ client: WebSocketClient; sock: FakeWebSocket }> => {
    new FakeServer();
    const client = new WebSocketClient({ url: 'ws://test.invalid/ws', ...base });
    client.connect();
    return { client, sock: await openLast() };
  };

  it('useWebSocketChannel keeps a notification delivered twice once, and messages of two users with one messageId both', async () => {
    const { client, sock } = await connected();
    const calls: unknown[] = [];
    const notes = renderHook(() => useWebSocketChannel(client, 'notifications', (m) => calls.push(m.messageId)));
    const orders = renderHook(() => useWebSocketChannel(client, 'order-updates'));
    await settle();
    act(() => {
      sock.receive(notification);
      sock.receive(notification);
      // Request ids are chosen by each client: two users may send the same one.
      sock.receive({ type: 'update', channel: 'order-updates', userId: 'ann', messageId: '3', payload: { orderId: '1' } });
      sock.receive({ type: 'update', channel: 'order-updates', userId: 'bob', messageId: '3', payload: { orderId: '2' } });
    });
    expect(notes.result.current.messages.map((m) => m.messageId)).toEqual([notification.messageId]);
    expect(calls).toEqual([notification.messageId]);
    expect(orders.result.current.messages.map((m) => m.userId)).toEqual(['ann', 'bob']);
    client.destroy();
  });

  it('useWebSocketMessages keeps a notification delivered twice once, remembering the latest 1000 messages', async () => {
    const { client, sock } = await connected();
    const calls: unknown[] = [];
    const { result } = renderHook(() => useWebSocketMessages(client, (m) => calls.push(m.messageId), { maxMessages: 3 }));
    act(() => {
      sock.receive(notification);
      sock.receive(notification);
    });
    expect(result.current.messages.map((m) => m.messageId)).toEqual([notification.messageId]);
    expect(calls).toHaveLength(1);
    act(() => {
      for (let i = 0; i < 1000; i++) sock.receive({ type: 'update', channel: 'c', userId: 'ann', messageId: `m${i}`, payload: i });
      sock.receive(notification);
    });
    expect(result.current.messages.map((m) => m.messageId)).toEqual(['m998', 'm999', notification.messageId]);
    client.destroy();
  });
});
