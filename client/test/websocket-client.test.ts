import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_PROTOCOL,
  FrameTooLargeError,
  MAX_FRAME_BYTES,
  MAX_TOKEN_BYTES,
  RealtimeError,
  WebSocketClient,
  isRealtimeError,
  backoffDelay,
  createWebSocketClient,
  generateMessageId,
  getWebSocketClient,
  isValidChannel,
  resetWebSocketClient,
  type ConnectionState,
  type WebSocketClientEvents,
  type WebSocketClientOptions,
} from '../src/index.js';
import { MAX_TIMER_DELAY, longTimerClock } from '../src/websocket-client.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

let ids = 0;

function makeClient(o: Partial<WebSocketClientOptions> = {}): WebSocketClient {
  return new WebSocketClient({
    url: 'ws://test.invalid/ws',
    WebSocketImpl: FakeWebSocket,
    random: () => 0.5,
    generateId: () => `m${++ids}`,
    heartbeatInterval: 0,
    maxConnectionAge: 0,
    rateLimit: false,
    ...o,
  });
}

/** Runs pending microtasks and zero-delay timers. */
const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

/** Records every event of the given kinds. */
function record<K extends keyof WebSocketClientEvents>(client: WebSocketClient, ...kinds: K[]): { kind: K; event: WebSocketClientEvents[K] }[] {
  const out: { kind: K; event: WebSocketClientEvents[K] }[] = [];
  for (const kind of kinds) client.on(kind, (event) => out.push({ kind, event }));
  return out;
}

async function openClient(client: WebSocketClient): Promise<FakeWebSocket> {
  client.connect();
  const sock = FakeWebSocket.last;
  sock.open();
  await flush();
  return sock;
}

/** Opens the socket the client created last (the next connection's). */
async function openLast(): Promise<FakeWebSocket> {
  const sock = FakeWebSocket.last;
  sock.open();
  await flush();
  return sock;
}

/**
 * Makes a `queue: false` request with a 2 s timeout, checks it is rejected
 * with DISCONNECTED (not sent, so not in flight) when that passes, and
 * returns the error.
 */
async function expectHeldUntilTimeout(client: WebSocketClient): Promise<RealtimeError> {
  let failed: RealtimeError | null = null;
  client.request('notify', {}, { queue: false, timeout: 2000 }).catch((e: RealtimeError) => (failed = e));
  await vi.advanceTimersByTimeAsync(1999);
  expect(failed).toBeNull();
  await vi.advanceTimersByTimeAsync(1);
  expect(failed).toMatchObject({ code: 'DISCONNECTED', retryable: true });
  const err = failed as unknown as RealtimeError;
  expect(err.details?.['inFlight']).toBeUndefined();
  return err;
}

beforeEach(() => {
  ids = 0;
  vi.useFakeTimers();
  FakeWebSocket.reset();
});

afterEach(() => {
  resetWebSocketClient();
  vi.useRealTimers();
  FakeWebSocket.reset();
});

describe('connection state machine', () => {
  it('goes idle -> connecting -> open -> reconnecting -> open -> closed and emits each step', async () => {
    new FakeServer();
    const client = makeClient({ reconnectInterval: 100 });
    const states: ConnectionState[] = [];
    client.on('statechange', (e) => states.push(e.state));
    const events = record(client, 'open', 'close', 'reconnect-scheduled');
    expect(client.state).toBe('idle');

    client.connect();
    expect(client.state).toBe('connecting');
    const first = FakeWebSocket.last;
    first.open();
    await flush();
    expect(client.state).toBe('open');
    expect(client.connected).toBe(true);

    first.serverClose(1006, 'gone');
    expect(client.state).toBe('reconnecting');
    // equal jitter with random 0.5: 100/2 + 50*0.5 = 75 ms
    await vi.advanceTimersByTimeAsync(74);
    expect(FakeWebSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
    FakeWebSocket.last.open();
    await flush();
    expect(client.state).toBe('open');

    client.disconnect();
    expect(client.state).toBe('closed');
    expect(FakeWebSocket.last.closedWith).toEqual({ code: 1000, reason: 'client disconnect' });
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open', 'closed']);
    expect(events.map((e) => e.kind)).toEqual(['open', 'close', 'reconnect-scheduled', 'open', 'close']);
    expect(events[0]?.event).toEqual({ reconnected: false });
    expect(events[1]?.event).toMatchObject({ code: 1006, reason: 'gone', willReconnect: true, cause: 'server' });
    expect(events[2]?.event).toEqual({ attempt: 1, delay: 75, cause: 'server' });
    expect(events[3]?.event).toEqual({ reconnected: true });
    expect(events[4]?.event).toMatchObject({ willReconnect: false, cause: 'client' });
  });

  it('backs off with growing delays, resets after a healthy connection and gives up after maxReconnectAttempts', async () => {
    new FakeServer();
    const client = makeClient({ reconnectInterval: 1000, reconnectDecay: 2, maxReconnectInterval: 5000, maxReconnectAttempts: 5, jitter: 'none' });
    const scheduled = record(client, 'reconnect-scheduled', 'reconnect-failed');
    client.connect();
    for (let i = 0; i < 6; i++) {
      FakeWebSocket.last.fail();
      await vi.advanceTimersByTimeAsync(10_000);
    }
    expect(scheduled.map((e) => e.event)).toEqual([
      { attempt: 1, delay: 1000, cause: 'server' },
      { attempt: 2, delay: 2000, cause: 'server' },
      { attempt: 3, delay: 4000, cause: 'server' },
      { attempt: 4, delay: 5000, cause: 'server' },
      { attempt: 5, delay: 5000, cause: 'server' },
      { attempts: 5 },
    ]);
    expect(client.state).toBe('closed');
    expect(FakeWebSocket.instances).toHaveLength(6);

    // connect() starts over; a connection that answers hello ends the
    // failed attempts, and one that stays open 30 s the backoff.
    scheduled.length = 0;
    client.connect();
    FakeWebSocket.last.fail();
    await vi.advanceTimersByTimeAsync(1000);
    FakeWebSocket.last.open();
    expect(client.getSnapshot().reconnectAttempts).toBe(1);
    await flush();
    expect(client.getSnapshot().reconnectAttempts).toBe(0); // hello was acked
    await vi.advanceTimersByTimeAsync(30_000);
    FakeWebSocket.last.serverClose();
    expect(scheduled.map((e) => e.event)).toEqual([
      { attempt: 1, delay: 1000, cause: 'server' },
      { attempt: 1, delay: 1000, cause: 'server' },
    ]);
  });

  it('keeps backing off while every connection is closed soon after it opens, without using up maxReconnectAttempts, and reconnects quickly after one that lasted', async () => {
    // A server that answers hello, then closes the connection (a failing
    // authorizer downstream, a proxy that drops the upgrade, a restart).
    new FakeServer();
    const client = makeClient({ reconnectInterval: 1000, reconnectDecay: 1.5, jitter: 'none', maxReconnectAttempts: 3 });
    const scheduled = record(client, 'reconnect-scheduled', 'reconnect-failed');
    const delays = (): number[] => scheduled.map((e) => (e.event as { delay: number }).delay);
    const closeSoon = async (): Promise<void> => {
      FakeWebSocket.last.open(); // each reconnect opens at its first try
      await flush(); // hello acked
      expect(client.getSnapshot().reconnectAttempts).toBe(0);
      await vi.advanceTimersByTimeAsync(5_000);
      FakeWebSocket.last.serverClose(1000);
    };
    client.connect();
    await closeSoon();
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(delays()[delays().length - 1]!);
      await closeSoon();
    }
    // The delay grows, but none of these attempts failed: each is the first
    // since a connection that worked, and the client does not give up.
    expect(scheduled.map((e) => e.event)).toEqual(
      [1000, 1500, 2250, 3375, 5062.5].map((delay) => ({ attempt: 1, delay, cause: 'server' })),
    );
    expect(FakeWebSocket.instances).toHaveLength(5);
    expect(client.state).toBe('reconnecting');

    // One that stays open 30 s is a healthy connection: the next drop is retried quickly.
    await vi.advanceTimersByTimeAsync(5062.5);
    FakeWebSocket.last.open();
    await flush();
    await vi.advanceTimersByTimeAsync(30_000);
    FakeWebSocket.last.serverClose(1006);
    expect(delays()[delays().length - 1]).toBe(1000);

    // Attempts that fail in a row still run out.
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(10_000);
      FakeWebSocket.last.fail();
    }
    expect(scheduled.slice(-4).map((e) => e.event)).toEqual([
      { attempt: 1, delay: 1000, cause: 'server' },
      { attempt: 2, delay: 1500, cause: 'server' },
      { attempt: 3, delay: 2250, cause: 'server' },
      { attempts: 3 },
    ]);
    expect(client.state).toBe('closed');
    client.destroy();
  });

  it('starts the backoff over once connections replaced by plan have stayed up 30 s, each shorter than that', async () => {
    new FakeServer();
    // Replaced by plan every 20 s, as a short token's refresh would.
    const client = makeClient({ reconnectInterval: 1000, reconnectDecay: 1.5, jitter: 'none', maxConnectionAge: 20_000 });
    const scheduled = record(client, 'reconnect-scheduled');
    client.connect();
    // A blip: the first connection fails twice, then opens.
    for (let i = 0; i < 2; i++) {
      FakeWebSocket.last.fail();
      await vi.advanceTimersByTimeAsync(10_000);
    }
    FakeWebSocket.last.open();
    await flush();
    expect(client.getSnapshot().reconnectAttempts).toBe(0);
    // 50 s of connections, each replaced by plan after 20 s, opening at once.
    for (let t = 0; t < 50; t++) {
      await vi.advanceTimersByTimeAsync(1_000);
      if (FakeWebSocket.last.readyState === 0) await openLast();
    }
    expect(FakeWebSocket.instances).toHaveLength(5);
    expect(client.getSnapshot().reconnectAttempts).toBe(0);
    FakeWebSocket.last.serverClose(1006);
    expect(scheduled.map((e) => e.event)).toEqual([
      { attempt: 1, delay: 1000, cause: 'server' },
      { attempt: 2, delay: 1500, cause: 'server' },
      { attempt: 0, delay: 0, cause: 'max-age' },
      { attempt: 0, delay: 0, cause: 'max-age' },
      { attempt: 1, delay: 1000, cause: 'server' }, // quick, as after any healthy connection
    ]);
    client.destroy();
  });

  it('uses the injected random source for jitter', async () => {
    const rand = vi.fn(() => 0);
    const client = makeClient({ reconnectInterval: 1000, random: rand });
    const scheduled = record(client, 'reconnect-scheduled');
    client.connect();
    FakeWebSocket.last.fail();
    expect(rand).toHaveBeenCalled();
    const opts = { reconnectInterval: 1000, maxReconnectInterval: 30_000, reconnectDecay: 1.5 };
    expect(scheduled[0]?.event.delay).toBe(backoffDelay(0, opts, () => 0));
    client.destroy();
  });

  it('does not reconnect when reconnect is off', async () => {
    const client = makeClient({ reconnect: false });
    const sock = await openClient(client);
    const closes = record(client, 'close');
    sock.serverClose(1001);
    expect(client.state).toBe('closed');
    expect(closes[0]?.event.willReconnect).toBe(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('counts a socket that never opens as a failed attempt after connectTimeout', async () => {
    const client = makeClient({ connectTimeout: 3000, reconnectInterval: 1000, jitter: 'none' });
    const closes = record(client, 'close');
    client.connect();
    const sock = FakeWebSocket.last;
    await vi.advanceTimersByTimeAsync(3000);
    expect(sock.closedWith).toEqual({ code: 4000, reason: 'connect timeout' });
    expect(closes[0]?.event.cause).toBe('connect-timeout');
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    client.destroy();
  });

  it('counts a url function that does not settle within connectTimeout as a failed attempt, and ignores its late URL', async () => {
    const pending: ((u: string) => void)[] = [];
    const client = makeClient({
      url: () => new Promise<string>((resolve) => pending.push(resolve)),
      connectTimeout: 3000,
      reconnectInterval: 1000,
      jitter: 'none',
    });
    const closes = record(client, 'close', 'reconnect-scheduled');
    client.connect();
    await vi.advanceTimersByTimeAsync(2999);
    expect(closes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(closes.map((e) => e.event)).toEqual([
      { code: 1006, reason: 'no URL within 3000 ms', wasClean: false, willReconnect: true, cause: 'connect-timeout' },
      { attempt: 1, delay: 1000, cause: 'connect-timeout' },
    ]);
    pending[0]!('ws://test.invalid/late');
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(pending).toHaveLength(2);
    pending[1]!('ws://test.invalid/next');
    await flush();
    expect(FakeWebSocket.instances.map((s) => s.url)).toEqual(['ws://test.invalid/next']);
    // The URL's wait counts against the attempt's connectTimeout.
    await vi.advanceTimersByTimeAsync(3000);
    expect(FakeWebSocket.last.closedWith).toEqual({ code: 4000, reason: 'connect timeout' });
    client.destroy();
  });

  it('calls a url function before every attempt', async () => {
    let n = 0;
    // With the default transport the token would move into a subprotocol
    // (see 'token and subprotocols'); keep it in the URL here.
    const client = makeClient({ url: () => `ws://test.invalid/ws?token=t${++n}`, reconnectInterval: 10, tokenTransport: 'query' });
    client.connect();
    FakeWebSocket.last.fail();
    await vi.advanceTimersByTimeAsync(10);
    expect(FakeWebSocket.instances.map((s) => s.url)).toEqual(['ws://test.invalid/ws?token=t1', 'ws://test.invalid/ws?token=t2']);

    const asyncClient = makeClient({ url: () => Promise.resolve('ws://test.invalid/async') });
    asyncClient.connect();
    expect(asyncClient.state).toBe('connecting');
    await flush();
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/async');

    const failing = makeClient({ url: () => Promise.reject(new Error('no token')), reconnectInterval: 10 });
    const errors = record(failing, 'error', 'reconnect-scheduled');
    failing.connect();
    await flush();
    expect(errors[0]?.kind).toBe('error');
    expect((errors[0]?.event as RealtimeError).code).toBe('SOCKET_ERROR');
    expect(errors[1]?.kind).toBe('reconnect-scheduled');
    client.destroy();
    asyncClient.destroy();
    failing.destroy();
  });

  it('sends hello on every connection and keeps the session', async () => {
    new FakeServer();
    const client = makeClient();
    const hellos = record(client, 'hello');
    const sock = await openClient(client);
    expect(sock.frames[0]?.type).toBe('hello');
    expect(client.session).toMatchObject({ userId: 'u1', connectionId: 'conn-1' });
    expect(hellos).toHaveLength(1);
    expect(client.latency).toBe(0);
  });
});

describe('requests', () => {
  it('resolves with the ack payload and rejects with a typed error', async () => {
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type === 'lock.acquire') {
          server.error(sock, f, 'LOCK_HELD', { retryable: true, details: { holder: 'u2' } });
          return true;
        }
        if (f.type === 'publish') {
          server.ack(sock, f, { channel: f.channel, recipients: 2, delivered: 2 });
          return true;
        }
        return false;
      },
    });
    const client = makeClient();
    await openClient(client);
    const ack = await client.publish('order-updates', { orderId: '123' });
    expect(ack).toEqual({ channel: 'order-updates', recipients: 2, delivered: 2 });
    const published = server.framesOfType('publish')[0];
    expect(published).toMatchObject({ type: 'publish', channel: 'order-updates', payload: { orderId: '123' } });
    expect(published?.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const err = await client.request('lock.acquire', { payload: { entityType: 'order', entityId: '1' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RealtimeError);
    expect(err).toMatchObject({ code: 'LOCK_HELD', retryable: true, details: { holder: 'u2' } });
    expect((err as RealtimeError).messageId).toBe(server.framesOfType('lock.acquire')[0]?.messageId);
  });

  it('gives every request a unique messageId', async () => {
    const server = new FakeServer();
    const client = new WebSocketClient({ url: 'ws://x.invalid', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0, rateLimit: false });
    await openClient(client);
    for (let i = 0; i < 50; i++) void client.request('activity', { payload: { i } }).catch(() => {});
    const seen = new Set(server.received.map((r) => r.frame.messageId));
    expect(seen.size).toBe(server.received.length);
    client.destroy();
  });

  it('rejects with TIMEOUT when no reply arrives; time spent queued does not count', async () => {
    new FakeServer();
    const client = makeClient({ requestTimeout: 5000 });
    const queued = client.request('comment.list', { channel: 'order:1' });
    const settled = vi.fn();
    queued.then(settled, settled);
    await vi.advanceTimersByTimeAsync(60_000); // offline for a minute: still waiting
    expect(settled).not.toHaveBeenCalled();
    await openClient(client);
    await vi.advanceTimersByTimeAsync(4999);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    const err = settled.mock.calls[0]?.[0] as RealtimeError;
    expect(err).toBeInstanceOf(RealtimeError);
    expect(err.code).toBe('TIMEOUT');
    expect(err.retryable).toBe(true);

    const custom = client.request('history', {}, { timeout: 100 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await custom).toMatchObject({ code: 'TIMEOUT' });
    expect(client.pendingRequests).toBe(0);
  });

  it('refuses a frame over the size limit before sending it', async () => {
    const server = new FakeServer();
    const client = makeClient();
    await openClient(client);
    const big = 'x'.repeat(128 * 1024);
    await expect(client.publish('order-updates', { big })).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE', retryable: false });
    expect(() => client.send({ type: 'publish', channel: 'order-updates', payload: big })).toThrow(RealtimeError);
    expect(server.framesOfType('publish')).toHaveLength(0);
    // multi-byte characters count as UTF-8 bytes
    const small = makeClient({ maxFrameBytes: 200 });
    await expect(small.publish('c', { s: 'é'.repeat(60) })).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' });
    small.destroy();
  });

  it('refuses a messageId the server cannot take at once, instead of timing out', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'publish'] });
    const client = makeClient();
    await openClient(client);
    const t0 = Date.now();
    for (const messageId of ['order 123 retry', '', 'x'.repeat(129), 'résumé']) {
      const r = client.publish('order-updates', {}, { messageId }).then(
        () => 'sent',
        (e: RealtimeError) => `${e.code} ${e.retryable} after ${Date.now() - t0} ms`,
      );
      expect(await r).toBe('BAD_REQUEST false after 0 ms');
    }
    expect(() => client.send({ type: 'publish', channel: 'order-updates', payload: {}, messageId: 'a b' })).toThrow(RealtimeError);
    expect(server.framesOfType('publish')).toHaveLength(0);
    await expect(client.publish('order-updates', {}, { messageId: 'x'.repeat(128) })).resolves.toBeDefined();
    await expect(client.publish('order-updates', {}, { messageId: '!~order:123/retry#2' })).resolves.toBeDefined();
  });

  it('refuses a payload JSON cannot encode with BAD_REQUEST, nothing sent', async () => {
    const server = new FakeServer();
    const client = makeClient();
    await openClient(client);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    for (const payload of [{ total: 10n }, cyclic]) {
      const err = await client.request('publish', { channel: 'order-updates', payload }).catch((e: unknown) => e);
      expect(isRealtimeError(err, 'BAD_REQUEST')).toBe(true);
      expect(err).toMatchObject({ retryable: false });
      expect(() => client.send({ type: 'publish', channel: 'order-updates', payload })).toThrow(RealtimeError);
    }
    expect(server.framesOfType('publish')).toHaveLength(0);
    expect(client.queuedMessages).toBe(0);
    expect(client.state).toBe('open');
  });

  it('refuses a messageId a request not settled yet carries, and takes it again once that one settled', async () => {
    const server = new FakeServer({ autoAck: ['hello'] });
    const client = makeClient({ rateLimitRetries: 1 });
    const sock = await openClient(client);
    const settled: string[] = [];
    const req = (name: string, messageId: string): Promise<void> =>
      client.request('comment.add', { payload: { name } }, { messageId, timeout: 1000 }).then(
        () => void settled.push(`${name} ok`),
        (e: RealtimeError) => void settled.push(`${name} ${e.code} ${e.retryable}`),
      );
    void req('first', 'retry-1'); // in flight
    void req('again', 'retry-1'); // an application retry clicked twice
    await vi.advanceTimersByTimeAsync(1000);
    // Each settles once: the first with its own outcome.
    expect(settled).toEqual(['again BAD_REQUEST false', 'first TIMEOUT true']);
    expect(server.framesOfType('comment.add')).toHaveLength(1);
    client.request('comment.add', {}, { messageId: 'retry-2' }).catch(() => {});
    expect(() => client.send({ type: 'comment.add', payload: {}, messageId: 'retry-2' })).toThrow(RealtimeError);
    // Settled: the application may send it again.
    void req('retried', 'retry-1');
    await flush();
    server.ack(sock, server.framesOfType('comment.add').find((f) => (f.payload as { name?: string } | undefined)?.name === 'retried')!, {});
    await flush();
    expect(settled[2]).toBe('retried ok');

    // Queued while offline, and waiting to retry after RATE_LIMITED.
    client.disconnect();
    void req('queued', 'q-1');
    void req('queued twice', 'q-1');
    await flush();
    client.connect();
    await openLast();
    const queued = server.framesOfType('comment.add').find((f) => f.messageId === 'q-1')!;
    server.error(FakeWebSocket.last, queued, 'RATE_LIMITED', { retryable: true, details: { retryAfterMs: 500 } });
    await flush();
    void req('delayed twice', 'q-1');
    await flush();
    expect(settled.slice(3)).toEqual(['queued twice BAD_REQUEST false', 'delayed twice BAD_REQUEST false']);
    client.destroy();
    await flush();
    expect(settled.slice(5)).toEqual(['queued CLIENT_DESTROYED false']);
  });

  it('never sends a frame over 32 KB: refuses it with a FrameTooLargeError', async () => {
    const server = new FakeServer();
    const client = makeClient();
    const sock = await openClient(client);
    const sentBefore = sock.sent.length;
    // The envelope around the payload; pad the payload to land exactly on 32 KB, then one over.
    const envelope = JSON.stringify({ type: 'publish', channel: 'c', payload: { s: '' }, timestamp: new Date(0).toISOString(), messageId: 'm99' });
    const fits = 'x'.repeat(MAX_FRAME_BYTES - envelope.length);
    expect(MAX_FRAME_BYTES).toBe(32768);
    client.send({ type: 'publish', channel: 'c', payload: { s: fits }, messageId: 'm99' });
    expect(sock.sent.length).toBe(sentBefore + 1);
    expect(new TextEncoder().encode(sock.sent[sock.sent.length - 1]).length).toBe(MAX_FRAME_BYTES);
    let thrown: unknown;
    try {
      client.send({ type: 'publish', channel: 'c', payload: { s: fits + 'x' }, messageId: 'm98' });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(FrameTooLargeError);
    expect(thrown).toBeInstanceOf(RealtimeError);
    expect(thrown).toMatchObject({ code: 'FRAME_TOO_LARGE', retryable: false, bytes: MAX_FRAME_BYTES + 1, limit: MAX_FRAME_BYTES, messageId: 'm98' });
    const rejected = await client.publish('c', { s: 'é'.repeat(MAX_FRAME_BYTES / 2) }).catch((e: unknown) => e);
    expect(isRealtimeError(rejected, 'FRAME_TOO_LARGE')).toBe(true);
    expect(rejected).toBeInstanceOf(FrameTooLargeError);
    expect(sock.sent.length).toBe(sentBefore + 1);
    expect(server.framesOfType('publish')).toHaveLength(1);
    expect(client.state).toBe('open');
  });

  it('refuses a maxFrameBytes over 32 KB', () => {
    expect(() => makeClient({ maxFrameBytes: MAX_FRAME_BYTES + 1 })).toThrow(TypeError);
    makeClient({ maxFrameBytes: MAX_FRAME_BYTES }).destroy();
  });

  it('with queue: false rejects at once while offline', async () => {
    const client = makeClient();
    await expect(client.request('presence.snapshot', {}, { queue: false })).rejects.toMatchObject({ code: 'DISCONNECTED' });
    expect(client.queuedMessages).toBe(0);
    client.send({ type: 'cursor', payload: { x: 1 } }, { queue: false });
    expect(client.queuedMessages).toBe(0);
  });

  it('sends fire-and-forget frames, queued while offline, and delivers their replies as messages', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'activity'] });
    const client = makeClient();
    const messages = record(client, 'message');
    const id = client.send({ type: 'activity', payload: { action: 'viewed' } });
    expect(client.queuedMessages).toBe(1);
    await openClient(client);
    expect(server.framesOfType('activity').map((f) => f.messageId)).toEqual([id]);
    expect(messages.map((m) => m.event.replyTo)).toEqual([id]);
    expect(client.pendingRequests).toBe(0);
  });

  it('emits unsolicited error frames and pushed events', async () => {
    new FakeServer();
    const client = makeClient();
    const sock = await openClient(client);
    const events = record(client, 'message', 'error');
    sock.receive({ type: 'update', channel: 'order-updates', userId: 'u2', payload: { orderId: '9' } });
    sock.receive({ type: 'error', payload: { code: 'RATE_LIMITED', message: 'slow down', retryable: true } });
    sock.receiveRaw('not json');
    sock.receiveRaw('[1,2]');
    expect(events.map((e) => e.kind)).toEqual(['message', 'error', 'message', 'error', 'error']);
    expect(events[1]?.event).toMatchObject({ code: 'RATE_LIMITED' });
    expect(events[3]?.event).toMatchObject({ code: 'INVALID_MESSAGE' });

    const got: unknown[] = [];
    const off = client.onChannel('order-updates', (m) => got.push(m.payload));
    sock.receive({ type: 'update', channel: 'order-updates', payload: 1 });
    sock.receive({ type: 'update', channel: 'other', payload: 2 });
    off();
    sock.receive({ type: 'update', channel: 'order-updates', payload: 3 });
    expect(got).toEqual([1]);
  });
});

describe('offline queue', () => {
  it('drops the oldest request on overflow, rejects it with QUEUE_OVERFLOW and emits queue-overflow', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'change'] });
    const client = makeClient({ messageQueueSize: 3 });
    const overflows = record(client, 'queue-overflow');
    const results = [1, 2, 3, 4, 5].map((i) =>
      client.request('change', { channel: `order:${i}`, payload: { i } }).then(
        () => 'ok',
        (e: RealtimeError) => e.code,
      ),
    );
    expect(client.queuedMessages).toBe(3);
    console.log('IDS', JSON.stringify(server.received.map((r) => r.frame.type + ':' + r.frame.messageId)));
    expect(overflows.map((o) => o.event)).toEqual([
      { dropped: { messageId: 'm1', type: 'change', channel: 'order:1' }, queueSize: 3 },
      { dropped: { messageId: 'm2', type: 'change', channel: 'order:2' }, queueSize: 3 },
    ]);
    await openClient(client);
    expect(await Promise.all(results)).toEqual(['QUEUE_OVERFLOW', 'QUEUE_OVERFLOW', 'ok', 'ok', 'ok']);
    expect(server.framesOfType('change').map((f) => f.messageId)).toEqual(['m3', 'm4', 'm5']);
    expect(client.queuedMessages).toBe(0);
  });

  it('on overflow drops the oldest read before any write, and the oldest write only when no read is queued', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'change', 'sync', 'history'] });
    const client = makeClient({ messageQueueSize: 3 });
    const overflows = record(client, 'queue-overflow');
    const results: Record<string, string> = {};
    const req = (type: string, name: string): void => {
      client.request(type, { payload: { name } }).then(
        () => (results[name] = 'ok'),
        (e: RealtimeError) => (results[name] = e.code),
      );
    };
    req('change', 'c1');
    req('sync', 's1');
    req('change', 'c2');
    req('history', 'h1'); // full: the oldest read, s1, goes
    req('change', 'c3'); // h1 goes
    req('sync', 's2'); // the only read: itself
    req('change', 'c4'); // no read left: the oldest write, c1
    expect(overflows.map((o) => o.event.dropped.type)).toEqual(['sync', 'history', 'sync', 'change']);
    await openClient(client);
    expect(results).toEqual({ s1: 'QUEUE_OVERFLOW', h1: 'QUEUE_OVERFLOW', s2: 'QUEUE_OVERFLOW', c1: 'QUEUE_OVERFLOW', c2: 'ok', c3: 'ok', c4: 'ok' });
    expect(server.framesOfType('change').map((f) => (f.payload as { name: string }).name)).toEqual(['c2', 'c3', 'c4']);
    expect(server.framesOfType('sync')).toHaveLength(0);
  });

  it('with a queue size of 0 rejects every offline request', async () => {
    const client = makeClient({ messageQueueSize: 0 });
    const overflows = record(client, 'queue-overflow');
    await expect(client.request('change')).rejects.toMatchObject({ code: 'QUEUE_OVERFLOW' });
    expect(overflows).toHaveLength(1);
  });

  it('clearQueue rejects what waits and reports how many', async () => {
    const client = makeClient();
    const a = client.request('change').catch((e: RealtimeError) => e.code);
    const b = client.request('change').catch((e: RealtimeError) => e.code);
    expect(client.clearQueue()).toBe(2);
    expect(await Promise.all([a, b])).toEqual(['QUEUE_CLEARED', 'QUEUE_CLEARED']);
    expect(client.queuedMessages).toBe(0);
  });

  it('cancel withdraws a request that never left the client, and not one written once', async () => {
    const server = new FakeServer({ autoAck: ['hello'] });
    const client = makeClient();
    await openClient(client);
    const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: RealtimeError) => `${e.code}: ${e.message}`);
    const written = outcome(client.request('change', { payload: { n: 1 } }));
    client.disconnect(); // in flight: waits to be sent again
    const queued = outcome(client.request('change', { payload: { n: 2 } }));
    const mine = outcome(client.request('change', { payload: { n: 3 } }));
    expect(client.queuedMessages).toBe(3);
    expect(client.cancel('m2')).toBe(false); // written before the disconnect: the server may have it
    expect(client.cancel('m3')).toBe(true);
    expect(client.cancel('m4', new RealtimeError({ code: 'NOT_FOLLOWING', message: 'let go' }))).toBe(true);
    expect(client.cancel('m4')).toBe(false);
    expect(client.cancel('nope')).toBe(false);
    expect(await queued).toBe('CANCELLED: change was cancelled before it was sent');
    expect(await mine).toBe('NOT_FOLLOWING: let go');
    expect(client.queuedMessages).toBe(1);
    client.connect();
    const next = await openLast();
    expect(server.framesOfType('change').map((f) => f.messageId)).toEqual(['m2', 'm2']);
    server.ack(next, server.framesOfType('change')[1]!, {});
    expect(await written).toBe('ok');
  });

  it('destroy rejects everything pending', async () => {
    new FakeServer({ autoAck: ['hello'] });
    const client = makeClient();
    await openClient(client);
    const inflight = client.request('change').catch((e: RealtimeError) => e.code);
    client.disconnect();
    const queued = client.request('change').catch((e: RealtimeError) => e.code);
    const sub = client.subscribe('order-updates').catch((e: RealtimeError) => e.code);
    client.destroy();
    expect(await Promise.all([inflight, queued, sub])).toEqual(['CLIENT_DESTROYED', 'CLIENT_DESTROYED', 'CLIENT_DESTROYED']);
    await expect(client.request('ping')).rejects.toMatchObject({ code: 'CLIENT_DESTROYED' });
  });
});

describe('reconnect', () => {
  it('resubscribes every channel before resending anything', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'ping', 'change'] });
    let holdSubscribes = false;
    const held: (() => void)[] = [];
    server.handler = (sock, f) => {
      if (f.type === 'subscribe') {
        const reply = (): void => server.ack(sock, f, { channel: f.channel });
        if (holdSubscribes) held.push(reply);
        else reply();
        return true;
      }
      return false;
    };
    const client = makeClient({ reconnectInterval: 10 });
    const first = await openClient(client);
    await Promise.all([client.subscribe('order-updates'), client.subscribe('order:123'), client.subscribe('user-presence')]);
    expect(client.subscriptions).toEqual(new Set(['order-updates', 'order:123', 'user-presence']));
    expect(first.framesOfType('subscribe').map((f) => f.channel)).toEqual(['order-updates', 'order:123', 'user-presence']);

    first.serverClose();
    const queued = client.request('change', { payload: { n: 1 } });
    holdSubscribes = true;
    await vi.advanceTimersByTimeAsync(10);
    const second = FakeWebSocket.last;
    expect(second).not.toBe(first);
    second.open();
    await flush();
    expect(second.frames.map((f) => f.type)).toEqual(['hello', 'subscribe', 'subscribe', 'subscribe']);
    expect(second.framesOfType('subscribe').map((f) => f.channel)).toEqual(['order-updates', 'order:123', 'user-presence']);

    // The queued change waits until every subscription is confirmed.
    for (const reply of held.splice(0)) reply();
    await flush();
    expect(second.frames.map((f) => f.type)).toEqual(['hello', 'subscribe', 'subscribe', 'subscribe', 'change']);
    await expect(queued).resolves.toEqual({});
  });

  it('resends in-flight and queued requests with their original messageIds, in order', async () => {
    const server = new FakeServer({ autoAck: ['hello'] });
    const client = makeClient({ reconnectInterval: 10 });
    const first = await openClient(client);
    const a = client.request('change', { channel: 'order:1', payload: { v: 'a' } });
    const b = client.request('change', { channel: 'order:1', payload: { v: 'b' } });
    const [fa, fb] = first.framesOfType('change');
    expect(client.pendingRequests).toBe(2);

    first.serverClose(1006);
    expect(client.pendingRequests).toBe(0);
    expect(client.queuedMessages).toBe(2);
    const c = client.request('change', { channel: 'order:1', payload: { v: 'c' } });
    expect(client.queuedMessages).toBe(3);
    console.log('IDS', JSON.stringify(server.received.map((r) => r.frame.type + ':' + r.frame.messageId)));

    await vi.advanceTimersByTimeAsync(10);
    const second = FakeWebSocket.last;
    second.open();
    await flush();
    const resent = second.framesOfType('change');
    expect(resent.map((f) => f.messageId)).toEqual([fa?.messageId, fb?.messageId, 'm' + String(Number(fb?.messageId.slice(1)) + 1)]);
    // Identical frames: same id, same payload, same timestamp.
    expect(second.sent.filter((s) => s.includes('"change"')).slice(0, 2)).toEqual(first.sent.filter((s) => s.includes('"change"')));

    // The server answers the resends (it deduplicates by messageId).
    for (const f of resent) server.ack(second, f, { version: f.payload });
    await flush();
    await expect(a).resolves.toEqual({ version: { v: 'a' } });
    await expect(b).resolves.toEqual({ version: { v: 'b' } });
    await expect(c).resolves.toEqual({ version: { v: 'c' } });
  });

  it('resends only the in-flight requests the server deduplicates or that change nothing twice; rejects the others with DISCONNECTED', async () => {
    const server = new FakeServer({ autoAck: ['hello'] });
    server.handler = (sock, f) => {
      if (f.type !== 'subscribe') return false;
      // order-updates keeps history: its subscribe reports a stream position.
      server.ack(sock, f, f.channel === 'order-updates' ? { channel: f.channel, position: { offset: 3, epoch: 'e1' } } : { channel: f.channel });
      return true;
    };
    const client = makeClient({ reconnectInterval: 10 });
    const first = await openClient(client);
    await client.subscribe('order-updates');
    await client.subscribe('order:123');
    const settled: Record<string, string> = {};
    const track = (name: string, p: Promise<unknown>): void => {
      p.then(() => (settled[name] = 'ok'), (e: RealtimeError) => (settled[name] = `${e.code}${e.details?.['inFlight'] === true ? ' in flight' : ''}`));
    };
    track('change', client.request('change', { payload: { v: 1 } }));
    track('sync', client.request('sync', { payload: {} }));
    track('lock.acquire', client.request('lock.acquire', { payload: {} }));
    track('publish with history', client.publish('order-updates', { n: 1 }));
    track('publish without history', client.publish('order:123', { n: 1 }));
    track('publish unsubscribed', client.publish('elsewhere', { n: 1 }));
    track('notify', client.request('notify', { payload: {} }));
    track('activity', client.request('activity', { payload: {} }));
    await flush();
    expect(first.frames.filter((f) => f.type !== 'hello' && f.type !== 'subscribe')).toHaveLength(8);

    first.serverClose(1006);
    await flush();
    expect(settled).toEqual({
      'publish without history': 'DISCONNECTED in flight',
      'publish unsubscribed': 'DISCONNECTED in flight',
      notify: 'DISCONNECTED in flight',
      activity: 'DISCONNECTED in flight',
    });
    await vi.advanceTimersByTimeAsync(10);
    const second = FakeWebSocket.last;
    second.open();
    await flush();
    const resent = second.frames.filter((f) => f.type !== 'hello' && f.type !== 'subscribe');
    expect(resent.map((f) => `${f.type} ${f.channel ?? ''}`.trim())).toEqual(['change', 'sync', 'lock.acquire', 'publish order-updates']);
    for (const f of resent) server.ack(second, f);
    await flush();
    expect(settled).toMatchObject({ change: 'ok', sync: 'ok', 'lock.acquire': 'ok', 'publish with history': 'ok' });
  });

  it('keeps pending requests across disconnect() and resends them on connect()', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'change'] });
    const client = makeClient();
    const first = await openClient(client);
    server.autoAck.delete('change');
    const p = client.request('change');
    const id = first.framesOfType('change')[0]?.messageId;
    client.disconnect();
    expect(client.queuedMessages).toBe(1);
    server.autoAck.add('change');
    const second = await openClient(client);
    expect(second.framesOfType('change')[0]?.messageId).toBe(id);
    await expect(p).resolves.toEqual({});
  });

  it('does not resend subscribe requests that were in flight: the resubscription covers them', async () => {
    const server = new FakeServer({ autoAck: ['hello'] });
    const client = makeClient({ reconnectInterval: 10 });
    const first = await openClient(client);
    const sub = client.subscribe('order-updates');
    await flush();
    expect(first.framesOfType('subscribe')).toHaveLength(1);
    first.serverClose();
    server.autoAck.add('subscribe');
    await vi.advanceTimersByTimeAsync(10);
    FakeWebSocket.last.open();
    await flush();
    expect(FakeWebSocket.last.framesOfType('subscribe')).toHaveLength(1);
    await expect(sub).resolves.toEqual({ channel: 'order-updates' });
  });

  it('reconnects when the server says the connection is not registered', async () => {
    const server = new FakeServer();
    server.handler = (sock, f) => {
      if (f.type === 'change') {
        server.error(sock, f, 'UNAUTHORIZED');
        return true;
      }
      return false;
    };
    const client = makeClient({ reconnectInterval: 10 });
    const closes = record(client, 'close');
    const sock = await openClient(client);
    await expect(client.request('change')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(sock.closedWith?.code).toBe(4001);
    expect(closes[0]?.event.cause).toBe('unauthorized');
    expect(client.state).toBe('reconnecting');
  });
});

describe('subscriptions', () => {
  it('subscribes offline on the next connection and unsubscribes', async () => {
    const server = new FakeServer();
    const client = makeClient();
    const sub = client.subscribe('order-updates');
    expect(client.getSnapshot().subscriptions).toEqual(['order-updates']);
    await openClient(client);
    await expect(sub).resolves.toEqual({ channel: 'order-updates' });
    // Subscribing again is a no-op on the wire.
    await expect(client.subscribe('order-updates')).resolves.toEqual({ channel: 'order-updates' });
    expect(server.framesOfType('subscribe')).toHaveLength(1);

    await expect(client.unsubscribe('order-updates')).resolves.toEqual({ channel: 'order-updates', wasSubscribed: true });
    expect(client.subscriptions.size).toBe(0);
    await expect(client.unsubscribe('order-updates')).resolves.toEqual({ channel: 'order-updates', wasSubscribed: false });
    expect(server.framesOfType('unsubscribe')).toHaveLength(1);
  });

  it('rejects invalid channel names locally', async () => {
    const client = makeClient();
    await expect(client.subscribe('bad channel')).rejects.toMatchObject({ code: 'INVALID_CHANNEL' });
    await expect(client.subscribe(':x')).rejects.toMatchObject({ code: 'INVALID_CHANNEL' });
    expect(client.subscriptions.size).toBe(0);
  });

  it('drops a channel the server refuses and emits subscription-error', async () => {
    const server = new FakeServer();
    server.handler = (sock, f) => {
      if (f.type === 'subscribe' && f.channel === 'secret') {
        server.error(sock, f, 'FORBIDDEN');
        return true;
      }
      return false;
    };
    const client = makeClient();
    const errors = record(client, 'subscription-error');
    await openClient(client);
    await expect(client.subscribe('secret')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(client.subscriptions.has('secret')).toBe(false);
    expect(errors[0]?.event.channel).toBe('secret');
  });

  it('retries a subscribe refused with a retryable code', async () => {
    const server = new FakeServer();
    let refusals = 2;
    server.handler = (sock, f) => {
      if (f.type === 'subscribe' && refusals > 0) {
        refusals--;
        server.error(sock, f, 'UNAVAILABLE', { retryable: true });
        return true;
      }
      return false;
    };
    const client = makeClient();
    await openClient(client);
    const sub = client.subscribe('order-updates');
    await flush();
    expect(client.clearQueue()).toBe(0); // a subscription retry is not the caller's queue
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(sub).resolves.toEqual({ channel: 'order-updates' });
    const ids = server.framesOfType('subscribe').map((f) => f.messageId);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1); // the same request sent again
  });

  // A Lambda failure: API Gateway sends its own frame, without replyTo, and
  // the subscribe ends as a TIMEOUT (retryable).
  function failingSubscribes(n: { left: number }): FakeServer {
    return new FakeServer({
      handler: (sock, f) => {
        if (f.type !== 'subscribe' || n.left <= 0) return false;
        n.left--;
        queueMicrotask(() => sock.receiveRaw(JSON.stringify({ message: 'Internal server error', connectionId: 'c', requestId: 'r' })));
        return true;
      },
    });
  }

  it('keeps a channel whose subscribe got no reply and subscribes it again on the same connection', async () => {
    const fails = { left: 1 };
    const server = failingSubscribes(fails);
    const client = makeClient();
    client.on('error', () => {});
    const events = record(client, 'subscription-error');
    const sock = await openClient(client);
    const release = client.retain('order:1');
    const sub = client.subscribe('order:1');
    let settled = false;
    void sub.then(() => (settled = true), () => (settled = true));
    await vi.advanceTimersByTimeAsync(10_000); // no reply within requestTimeout
    expect(client.subscriptions.has('order:1')).toBe(true);
    expect(settled).toBe(false); // the promise waits for the next attempt
    await vi.advanceTimersByTimeAsync(1_000); // the backoff delay
    expect(sock.framesOfType('subscribe').map((f) => f.channel)).toEqual(['order:1', 'order:1']);
    await expect(sub).resolves.toEqual({ channel: 'order:1' });
    expect(events).toEqual([]);
    expect(server.framesOfType('subscribe')).toHaveLength(2);
    release();
  });

  it('keeps a held channel after a resubscribe that got no reply, and resubscribes it on the next connection', async () => {
    const fails = { left: 0 };
    failingSubscribes(fails);
    const client = makeClient({ reconnectInterval: 10 });
    client.on('error', () => {});
    await openClient(client);
    const release = client.retain('order:1'); // e.g. useEntitySync
    await flush();
    fails.left = 1;
    FakeWebSocket.last.serverClose(1001, 'Going away');
    await vi.advanceTimersByTimeAsync(50);
    FakeWebSocket.last.open();
    await vi.advanceTimersByTimeAsync(10_000); // the resubscribe times out
    FakeWebSocket.last.serverClose(1001, 'Going away');
    await vi.advanceTimersByTimeAsync(50);
    FakeWebSocket.last.open();
    await flush();
    expect(client.subscriptions.has('order:1')).toBe(true);
    expect(FakeWebSocket.last.framesOfType('subscribe').map((f) => f.channel)).toEqual(['order:1']);
    release();
  });

  it('retain keeps a channel subscribed until its last holder lets go', async () => {
    const server = new FakeServer();
    const client = makeClient();
    await openClient(client);
    const a = client.retain('order:1');
    const b = client.retain('order:1');
    await flush();
    expect(server.framesOfType('subscribe')).toHaveLength(1);
    a();
    a(); // a second call does nothing
    await flush();
    expect(client.subscriptions.has('order:1')).toBe(true);
    expect(server.framesOfType('unsubscribe')).toHaveLength(0);
    b();
    await flush();
    expect(client.subscriptions.has('order:1')).toBe(false);
    expect(server.framesOfType('unsubscribe')).toHaveLength(1);
  });

  it('orders subscribe and unsubscribe of one channel', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'unsubscribe'] });
    const held: (() => void)[] = [];
    server.handler = (sock, f) => {
      if (f.type === 'subscribe') {
        held.push(() => server.ack(sock, f, { channel: f.channel }));
        return true;
      }
      return false;
    };
    const client = makeClient();
    await openClient(client);
    const sub = client.subscribe('order:1').catch((e: RealtimeError) => e.code);
    const unsub = client.unsubscribe('order:1');
    await flush();
    // The unsubscribe waits for the subscribe's reply.
    expect(server.received.map((r) => r.frame.type)).toEqual(['hello', 'subscribe']);
    held.splice(0).forEach((r) => r());
    await flush();
    expect(server.received.map((r) => r.frame.type)).toEqual(['hello', 'subscribe', 'unsubscribe']);
    expect(await sub).toBe('CANCELLED');
    await expect(unsub).resolves.toEqual({ channel: 'order:1', wasSubscribed: true });
  });

  it('subscribes once per connection a channel that an open listener subscribes, and is ready once that is answered', async () => {
    const server = new FakeServer({ autoAck: ['hello'] });
    const held: (() => void)[] = [];
    server.handler = (sock, f) => {
      if (f.type !== 'subscribe') return false;
      held.push(() => server.ack(sock, f, { channel: f.channel }));
      return true;
    };
    const client = makeClient({ reconnectInterval: 10 });
    client.on('open', () => void client.subscribe('order-updates')); // "(re)subscribe on open"
    const ready = record(client, 'ready');
    for (const n of [1, 2]) {
      if (n === 1) await openClient(client);
      else {
        FakeWebSocket.last.serverClose(1001, 'Going away');
        await vi.advanceTimersByTimeAsync(50);
        await openLast();
      }
      expect(ready).toHaveLength(n - 1); // the subscribe is unanswered
      held.splice(0).forEach((answer) => answer());
      await flush();
      expect(FakeWebSocket.last.framesOfType('subscribe').map((f) => f.channel)).toEqual(['order-updates']);
      expect(ready).toHaveLength(n);
    }
    expect(client.isSubscribed('order-updates')).toBe(true);
    client.destroy();
  });
});

describe('heartbeat', () => {
  it('pings every heartbeatInterval and reports latency', async () => {
    const server = new FakeServer({ autoAck: ['hello'] });
    server.handler = (sock, f) => {
      if (f.type === 'ping') {
        setTimeout(() => server.ack(sock, f), 42);
        return true;
      }
      return false;
    };
    const client = makeClient({ heartbeatInterval: 30_000, pongTimeout: 10_000 });
    const latencies = record(client, 'latency');
    await openClient(client);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(server.framesOfType('ping')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(42);
    expect(client.latency).toBe(42);
    expect(latencies.map((l) => l.event)).toEqual([0, 42]); // hello, then the ping
    await vi.advanceTimersByTimeAsync(30_000);
    expect(server.framesOfType('ping')).toHaveLength(2);
    expect(client.state).toBe('open');
  });

  it('closes and reconnects when a pong does not arrive in time', async () => {
    const server = new FakeServer({ autoAck: ['hello'] }); // never answers ping
    const client = makeClient({ heartbeatInterval: 1000, pongTimeout: 500, reconnectInterval: 100 });
    const events = record(client, 'close', 'reconnect-scheduled');
    const sock = await openClient(client);
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.framesOfType('ping')).toHaveLength(1);
    expect(client.state).toBe('open');
    await vi.advanceTimersByTimeAsync(499);
    expect(client.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1);
    expect(sock.closedWith).toEqual({ code: 4000, reason: 'heartbeat timeout' });
    expect(client.state).toBe('reconnecting');
    expect(events[0]?.event).toMatchObject({ cause: 'heartbeat-timeout', willReconnect: true });
    expect(events[1]?.kind).toBe('reconnect-scheduled');
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it('without a pongTimeout waits two heartbeat periods', async () => {
    new FakeServer({ autoAck: ['hello'] });
    const client = makeClient({ heartbeatInterval: 1000, pongTimeout: 0 });
    const sock = await openClient(client);
    await vi.advanceTimersByTimeAsync(1000 + 1999);
    expect(sock.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(sock.closedWith?.code).toBe(4000);
    client.destroy();
  });
});

describe('planned reconnect', () => {
  it('reconnects at maxConnectionAge without backoff and resends a change still unanswered after requestTimeout', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe'] });
    const client = makeClient({ maxConnectionAge: 115 * 60_000 });
    const events = record(client, 'close', 'reconnect-scheduled');
    const first = await openClient(client);
    await client.subscribe('order-updates');
    await vi.advanceTimersByTimeAsync(115 * 60_000 - 5000);
    const p = client.request('change', {}, { timeout: 60_000 }); // in flight when the planned reconnect comes
    await vi.advanceTimersByTimeAsync(5000);
    // The planned reconnect waits for the reply in flight, at most requestTimeout.
    await vi.advanceTimersByTimeAsync(10_000 - 1);
    expect(first.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(first.closedWith).toEqual({ code: 1000, reason: 'max connection age' });
    expect(events.map((e) => e.event)).toEqual([
      { code: 1000, reason: 'max connection age', wasClean: false, willReconnect: true, cause: 'max-age' },
      { attempt: 0, delay: 0, cause: 'max-age' },
    ]);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(client.state).toBe('reconnecting');
    const second = FakeWebSocket.last;
    second.open();
    await flush();
    expect(second.frames.map((f) => f.type)).toEqual(['hello', 'subscribe', 'change']);
    server.ack(second, second.framesOfType('change')[0]!, { ok: true });
    await expect(p).resolves.toEqual({ ok: true });
  });

  it('waits for the replies in flight before a planned reconnect, and writes nothing new on the old connection', async () => {
    const held: (() => void)[] = [];
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    server.handler = (sock, f) => {
      if (f.type !== 'publish') return false;
      held.push(() => server.ack(sock, f, { recipients: 1, delivered: 1 }));
      return true;
    };
    const client = makeClient({ maxConnectionAge: 60_000 });
    const closes = record(client, 'close');
    const first = await openClient(client);
    await vi.advanceTimersByTimeAsync(59_990);
    // order:123 has no history: the server would broadcast a resend again.
    const published = client.publish('order:123', { text: 'hi' });
    await flush();
    await vi.advanceTimersByTimeAsync(10); // max connection age
    expect(first.closedWith).toBeNull();
    const later = client.request('notify', { payload: { message: 'm' } }); // made while waiting
    await vi.advanceTimersByTimeAsync(300);
    expect(first.framesOfType('notify')).toHaveLength(0);
    held.splice(0).forEach((r) => r()); // the publish's reply
    await flush();
    await expect(published).resolves.toEqual({ recipients: 1, delivered: 1 });
    expect(first.closedWith).toEqual({ code: 1000, reason: 'max connection age' });
    expect(closes.map((c) => c.event.cause)).toEqual(['max-age']);
    const second = FakeWebSocket.last;
    second.open();
    await flush();
    expect(second.frames.map((f) => f.type)).toEqual(['hello', 'notify']);
    await expect(later).resolves.toEqual({});
    expect(server.framesOfType('publish')).toHaveLength(1);
  });

  it('does not resend a publish without history still unanswered at a planned reconnect: rejects it with DISCONNECTED', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe'] });
    const client = makeClient({ maxConnectionAge: 60_000 });
    await openClient(client);
    await vi.advanceTimersByTimeAsync(59_990);
    let failed: RealtimeError | null = null;
    client.publish('order:123', { text: 'hi' }, { timeout: 60_000 }).catch((e: RealtimeError) => (failed = e));
    await vi.advanceTimersByTimeAsync(10 + 10_000); // max age, then requestTimeout without the reply
    FakeWebSocket.last.open();
    await flush();
    expect(server.framesOfType('publish')).toHaveLength(1);
    expect(failed).toMatchObject({ code: 'DISCONNECTED', retryable: true, details: { inFlight: true } });
  });

  it('waits out a maxConnectionAge and a request timeout past 2^31 - 1 ms instead of firing at once', async () => {
    new FakeServer({ autoAck: ['hello'] });
    const days30 = 30 * 24 * 3600 * 1000;
    const client = makeClient({ maxConnectionAge: days30 });
    const closes = record(client, 'close');
    const sock = await openClient(client);
    let timedOut: string | null = null;
    client.request('change', {}, { timeout: days30 - 1 }).catch((e: RealtimeError) => (timedOut = e.code));
    await vi.advanceTimersByTimeAsync(1000);
    expect(closes).toEqual([]);
    expect(timedOut).toBeNull();
    await vi.advanceTimersByTimeAsync(days30 - 1000 - 2);
    expect(closes).toEqual([]);
    expect(timedOut).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(timedOut).toBe('TIMEOUT');
    expect(closes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(closes.map((c) => c.event.cause)).toEqual(['max-age']);
    expect(sock.closedWith).toEqual({ code: 1000, reason: 'max connection age' });
  });

  it('holds a queue: false request made between the two connections and sends it on the new one', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    const client = makeClient({ maxConnectionAge: 60_000 });
    const first = await openClient(client);
    await vi.advanceTimersByTimeAsync(60_000); // nothing in flight: closes at once
    expect(first.closedWith).toEqual({ code: 1000, reason: 'max connection age' });
    expect(client.state).toBe('reconnecting');
    const p = client.request('notify', { payload: { message: 'm' } }, { queue: false });
    let settled: unknown = null;
    p.then((v) => (settled = v), (e: unknown) => (settled = e));
    await flush();
    expect(settled).toBeNull();
    const second = await openLast();
    expect(second.frames.map((f) => f.type)).toEqual(['hello', 'notify']);
    await expect(p).resolves.toEqual({});
    expect(server.framesOfType('notify')).toHaveLength(1);
  });

  it('holds a queue: false request made while a planned reconnect waits for replies for the new connection, and does not wait for it', async () => {
    const held: (() => void)[] = [];
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    server.handler = (sock, f) => {
      if (f.type !== 'publish') return false;
      held.push(() => server.ack(sock, f, { recipients: 1, delivered: 1 }));
      return true;
    };
    const client = makeClient({ maxConnectionAge: 60_000 });
    const first = await openClient(client);
    await vi.advanceTimersByTimeAsync(59_990);
    const published = client.publish('order:123', { text: 'hi' });
    await vi.advanceTimersByTimeAsync(10); // max connection age: waits for the publish's reply
    const queued = client.request('notify', { payload: { message: 'queued' } });
    const bound = client.request('notify', { payload: { message: 'bound' } }, { queue: false });
    await flush();
    // Neither is written on the connection being replaced.
    expect(first.framesOfType('notify')).toHaveLength(0);
    held.shift()!(); // the publish's reply ends the wait
    await flush();
    await expect(published).resolves.toEqual({ recipients: 1, delivered: 1 });
    expect(first.closedWith).toEqual({ code: 1000, reason: 'max connection age' });
    const second = await openLast();
    expect(second.framesOfType('notify').map((f) => f.payload)).toEqual([{ message: 'queued' }, { message: 'bound' }]);
    await expect(queued).resolves.toEqual({});
    await expect(bound).resolves.toEqual({});
  });

  it('does not write a queue: false request on the old connection when the wait for replies ends by its timer', async () => {
    // The old connection is never answered: the wait ends at requestTimeout
    // and closes it. A request written on it just before would be applied
    // and then reported as not sent.
    const server = new FakeServer({ autoAck: ['hello', 'subscribe'] });
    server.handler = (sock, f) => {
      if (sock !== FakeWebSocket.instances[0] || f.type === 'hello') return false;
      return true;
    };
    server.autoAck.add('notify');
    const client = makeClient({ maxConnectionAge: 60_000 });
    const first = await openClient(client);
    await vi.advanceTimersByTimeAsync(59_990);
    client.publish('order:123', { text: 'hi' }, { timeout: 60_000 }).catch(() => {});
    await vi.advanceTimersByTimeAsync(10); // max connection age: waits for the publish's reply
    await vi.advanceTimersByTimeAsync(10_000 - 1);
    expect(first.closedWith).toBeNull();
    let settled: unknown = null;
    const bound = client.request('notify', { payload: { message: 'late' } }, { queue: false });
    bound.then((v) => (settled = v), (e: unknown) => (settled = e));
    await vi.advanceTimersByTimeAsync(1); // the wait ends: the old connection closes
    expect(first.closedWith).toEqual({ code: 1000, reason: 'max connection age' });
    expect(first.framesOfType('notify')).toHaveLength(0);
    expect(settled).toBeNull();
    const second = await openLast();
    expect(second.framesOfType('notify')).toHaveLength(1);
    await expect(bound).resolves.toEqual({});
    expect(server.framesOfType('notify')).toHaveLength(1);
  });

  it('rejects a queue: false request held through the wait for replies with DISCONNECTED when its timeout passes first', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    server.handler = (_sock, f) => f.type === 'publish'; // never answered
    const client = makeClient({ maxConnectionAge: 60_000 });
    const first = await openClient(client);
    await vi.advanceTimersByTimeAsync(59_990);
    client.publish('order:123', { text: 'hi' }, { timeout: 60_000 }).catch(() => {});
    await vi.advanceTimersByTimeAsync(10); // max connection age: waits for the publish's reply
    const err = await expectHeldUntilTimeout(client);
    expect(err.message).toBe('no new connection within 2000 ms (planned reconnect); not sent');
    expect(first.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(8000); // the wait ends
    await openLast();
    expect(server.framesOfType('notify')).toHaveLength(0);
  });

  it('stops the wait of a held queue: false request the queue drops on overflow', async () => {
    new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    const client = makeClient({ maxConnectionAge: 60_000, connectTimeout: 0, messageQueueSize: 1 });
    await openClient(client);
    await vi.advanceTimersByTimeAsync(60_000); // between the two connections
    const timers = vi.getTimerCount();
    const bound = client.request('notify', { payload: { n: 1 } }, { queue: false, timeout: 2000 });
    expect(vi.getTimerCount()).toBe(timers + 1);
    void client.request('notify', { payload: { n: 2 } }).catch(() => {});
    await expect(bound).rejects.toMatchObject({ code: 'QUEUE_OVERFLOW' });
    expect(vi.getTimerCount()).toBe(timers);
  });

  it('rejects a queue: false request in flight when the connection drops as one that may have been applied', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe'] });
    const client = makeClient();
    const sock = await openClient(client);
    let failed: RealtimeError | null = null;
    client.request('change', { payload: { v: 1 } }, { queue: false }).catch((e: RealtimeError) => (failed = e));
    await flush();
    expect(server.framesOfType('change')).toHaveLength(1);
    sock.serverClose(1006);
    await flush();
    expect(failed).toMatchObject({ code: 'DISCONNECTED', retryable: true, details: { inFlight: true } });
  });

  it('rejects a held queue: false request with DISCONNECTED when its timeout passes before the new connection', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    const client = makeClient({ maxConnectionAge: 60_000, connectTimeout: 0 });
    await openClient(client);
    await vi.advanceTimersByTimeAsync(60_000);
    const err = await expectHeldUntilTimeout(client);
    expect(err.message).toBe('no new connection within 2000 ms (planned reconnect); not sent');
    await openLast();
    expect(server.framesOfType('notify')).toHaveLength(0);
  });

  it('holds a queue: false request made after the new connection opens but before it is ready at most its timeout, and says it was not ready', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    const client = makeClient({ maxConnectionAge: 60_000 });
    await openClient(client);
    await client.subscribe('order-updates');
    await vi.advanceTimersByTimeAsync(60_000);
    server.autoAck.delete('subscribe'); // the new connection's resubscribe gets no reply
    const second = await openLast();
    expect(second.framesOfType('subscribe')).toHaveLength(1);
    const err = await expectHeldUntilTimeout(client);
    // The socket is open: the error says the connection was not ready, not that there was none.
    expect(client.connected).toBe(true);
    expect(err.message).toBe('the new connection was not ready within 2000 ms (planned reconnect: its resubscribes unanswered); not sent');
    expect(server.framesOfType('notify')).toHaveLength(0);
  });

  it('sends a queue: false request refused with RATE_LIMITED on the new connection when a planned reconnect came before its retry', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe'] });
    let refused = 0;
    server.handler = (sock, f) => {
      if (f.type !== 'notify') return false;
      if (refused++ === 0) server.error(sock, f, 'RATE_LIMITED', { retryable: true, details: { retryAfterMs: 1000 } });
      else server.ack(sock, f, {});
      return true;
    };
    const client = makeClient({ maxConnectionAge: 60_000 });
    const first = await openClient(client);
    await vi.advanceTimersByTimeAsync(59_990);
    const bound = client.request('notify', { payload: { message: 'bound' } }, { queue: false });
    await vi.advanceTimersByTimeAsync(10); // refused, then max connection age: nothing in flight, so it closes at once
    expect(first.closedWith).toEqual({ code: 1000, reason: 'max connection age' });
    const second = await openLast();
    await vi.advanceTimersByTimeAsync(1100); // the retry
    await expect(bound).resolves.toEqual({});
    expect(second.framesOfType('notify')).toHaveLength(1);
  });

  it('still rejects a queue: false request waiting to retry after RATE_LIMITED when the connection drops', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe'] });
    server.handler = (sock, f) => {
      if (f.type !== 'notify') return false;
      server.error(sock, f, 'RATE_LIMITED', { retryable: true, details: { retryAfterMs: 1000 } });
      return true;
    };
    const client = makeClient({ reconnectInterval: 10 });
    const first = await openClient(client);
    let failed: RealtimeError | null = null;
    client.request('notify', {}, { queue: false }).catch((e: RealtimeError) => (failed = e));
    await flush();
    first.serverClose(1006);
    await vi.advanceTimersByTimeAsync(100);
    await openLast();
    await vi.advanceTimersByTimeAsync(1100);
    expect(failed).toMatchObject({ code: 'DISCONNECTED' });
    expect(server.framesOfType('notify')).toHaveLength(1);
  });

  it('rejects a held queue: false request with DISCONNECTED when the planned reconnect fails', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    const client = makeClient({ maxConnectionAge: 60_000 });
    await openClient(client);
    await vi.advanceTimersByTimeAsync(60_000);
    let failed: RealtimeError | null = null;
    client.request('notify', {}, { queue: false }).catch((e: RealtimeError) => (failed = e));
    await flush();
    expect(failed).toBeNull();
    FakeWebSocket.last.fail(); // the new connection never opens: an unplanned drop now
    await flush();
    expect(failed).toMatchObject({ code: 'DISCONNECTED' });
    // Later ones fail fast again.
    await expect(client.request('notify', {}, { queue: false })).rejects.toMatchObject({ code: 'DISCONNECTED' });
    await vi.advanceTimersByTimeAsync(60_000);
    await openLast();
    expect(server.framesOfType('notify')).toHaveLength(0);
  });

  it('still rejects a queue: false request at once after an unplanned drop', async () => {
    new FakeServer({ autoAck: ['hello', 'subscribe', 'notify'] });
    const client = makeClient({ maxConnectionAge: 60_000 });
    const sock = await openClient(client);
    sock.serverClose(1006);
    expect(client.state).toBe('reconnecting');
    await expect(client.request('notify', {}, { queue: false })).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });

  it('is off with maxConnectionAge 0', async () => {
    new FakeServer();
    const client = makeClient({ maxConnectionAge: 0 });
    const sock = await openClient(client);
    await vi.advanceTimersByTimeAsync(3 * 3600_000);
    expect(sock.closedWith).toBeNull();
  });
});

describe('rate limiting', () => {
  it('paces a flush with the token bucket', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'change'] });
    const client = makeClient({ rateLimit: { rate: 10, burst: 4 } });
    const all = Array.from({ length: 10 }, (_, i) => client.request('change', { payload: { i } }));
    await openClient(client);
    // hello took one token: 3 left for the queue
    expect(server.framesOfType('change')).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(100);
    expect(server.framesOfType('change')).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(600);
    expect(server.framesOfType('change')).toHaveLength(10);
    expect(server.framesOfType('change').map((f) => (f.payload as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await Promise.all(all);
  });

  it('sends a request refused with RATE_LIMITED again with the same messageId', async () => {
    const server = new FakeServer();
    let refuse = 2;
    server.handler = (sock, f) => {
      if (f.type !== 'change') return false;
      if (refuse-- > 0) server.error(sock, f, 'RATE_LIMITED', { retryable: true, details: { retryAfterMs: 200 } });
      else server.ack(sock, f, { applied: true });
      return true;
    };
    const client = makeClient();
    await openClient(client);
    const p = client.request('change');
    await flush();
    expect(client.queuedMessages).toBe(1); // waiting for its retry
    await vi.advanceTimersByTimeAsync(1000);
    await expect(p).resolves.toEqual({ applied: true });
    const sent = server.framesOfType('change');
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((f) => f.messageId)).size).toBe(1);
  });

  it('gives up after rateLimitRetries', async () => {
    const server = new FakeServer();
    server.handler = (sock, f) => {
      if (f.type !== 'change') return false;
      server.error(sock, f, 'RATE_LIMITED', { retryable: true, details: { retryAfterMs: 10 } });
      return true;
    };
    const client = makeClient({ rateLimitRetries: 2 });
    await openClient(client);
    const p = client.request('change').catch((e: RealtimeError) => e.code);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await p).toBe('RATE_LIMITED');
    expect(server.framesOfType('change')).toHaveLength(3);
  });

  it('paces the resubscribes after a reconnect under the server limit (20/s, burst 40) and keeps every channel', async () => {
    // The server's limiter: a bucket per connection.
    const buckets = new Map<FakeWebSocket, { tokens: number; at: number }>();
    const refused: string[] = [];
    const server = new FakeServer({
      handler: (sock, f) => {
        const now = Date.now();
        const b = buckets.get(sock) ?? { tokens: 40, at: now };
        b.tokens = Math.min(40, b.tokens + ((now - b.at) / 1000) * 20);
        b.at = now;
        buckets.set(sock, b);
        if (b.tokens >= 1) {
          b.tokens -= 1;
          return false;
        }
        refused.push(f.type);
        server.error(sock, f, 'RATE_LIMITED', { retryable: true, details: { retryAfterMs: Math.ceil(((1 - b.tokens) / 20) * 1000) } });
        return true;
      },
    });
    const client = makeClient({ rateLimit: { rate: 16, burst: 32 }, reconnectInterval: 10 });
    const errors = record(client, 'subscription-error');
    await openClient(client);
    for (let i = 0; i < 60; i++) {
      await client.subscribe(`order:${i}`);
      await vi.advanceTimersByTimeAsync(100);
    }
    FakeWebSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(20);
    const sock = FakeWebSocket.last;
    sock.open();
    await flush();
    // hello took the first token: 31 resubscribes at once, the rest paced.
    expect(sock.framesOfType('subscribe')).toHaveLength(31);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sock.framesOfType('subscribe')).toHaveLength(60);
    expect(refused).toEqual([]);
    expect(errors).toEqual([]);
    expect(client.subscriptions.size).toBe(60);
  });

  it('retries a subscribe refused with RATE_LIMITED for as long as the connection lasts', async () => {
    const server = new FakeServer();
    let refusals = 8;
    server.handler = (sock, f) => {
      if (f.type !== 'subscribe' || refusals === 0) return false;
      refusals--;
      server.error(sock, f, 'RATE_LIMITED', { retryable: true, details: { retryAfterMs: 100 } });
      return true;
    };
    const client = makeClient();
    const errors = record(client, 'subscription-error');
    await openClient(client);
    const sub = client.subscribe('order-updates');
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(sub).resolves.toEqual({ channel: 'order-updates' });
    expect(server.framesOfType('subscribe')).toHaveLength(9);
    expect(errors).toEqual([]);
    expect(client.subscriptions.has('order-updates')).toBe(true);
  });
});

describe('snapshot', () => {
  it('is stable until something changes and tracks queue and state', async () => {
    new FakeServer({ autoAck: ['hello'] });
    const client = makeClient();
    const s0 = client.getSnapshot();
    expect(client.getSnapshot()).toBe(s0);
    let notified = 0;
    client.subscribeSnapshot(() => notified++);
    void client.request('change').catch(() => {});
    const s1 = client.getSnapshot();
    expect(s1).not.toBe(s0);
    expect(s1.queuedMessages).toBe(1);
    expect(notified).toBe(1);
    await openClient(client);
    const s2 = client.getSnapshot();
    expect(s2).toMatchObject({ state: 'open', queuedMessages: 0, pendingRequests: 1 });
    client.destroy();
  });
});

describe('factories and helpers', () => {
  it('createWebSocketClient creates independent clients; getWebSocketClient returns one shared client', () => {
    const a = createWebSocketClient({ url: 'ws://a.invalid', WebSocketImpl: FakeWebSocket });
    const b = createWebSocketClient({ url: 'ws://a.invalid', WebSocketImpl: FakeWebSocket });
    expect(a).not.toBe(b);
    expect(() => getWebSocketClient()).toThrow();
    const s = getWebSocketClient({ url: 'ws://s.invalid', WebSocketImpl: FakeWebSocket });
    expect(getWebSocketClient()).toBe(s);
    expect(getWebSocketClient({ url: 'ws://other.invalid' })).toBe(s);
    s.destroy();
    const t = getWebSocketClient({ url: 'ws://t.invalid', WebSocketImpl: FakeWebSocket });
    expect(t).not.toBe(s);
    resetWebSocketClient();
    expect(() => getWebSocketClient()).toThrow();
  });

  it('throws on connect without a WebSocket implementation', () => {
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    delete g.WebSocket;
    try {
      const c = new WebSocketClient({ url: 'ws://x.invalid' });
      expect(() => c.connect()).toThrow(/WebSocketImpl/);
    } finally {
      if (saved !== undefined) g.WebSocket = saved;
    }
  });

  it('validates options', () => {
    expect(() => new WebSocketClient({ url: 'ws://x.invalid', reconnectDecay: 0.5 })).toThrow(TypeError);
    expect(() => new WebSocketClient({ url: 'ws://x.invalid', heartbeatInterval: -1 })).toThrow(TypeError);
    expect(() => new WebSocketClient({ url: 'ws://x.invalid', rateLimit: { rate: 0, burst: 1 } })).toThrow(TypeError);
  });

  it('generates unique UUID messageIds, with and without crypto.randomUUID', () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(generateMessageId());
    expect(seen.size).toBe(1000);
    for (const id of seen) expect(id).toMatch(uuid);

    const c = globalThis.crypto as { randomUUID?: unknown };
    const spy = vi.spyOn(c as { randomUUID: () => string }, 'randomUUID').mockImplementation(() => {
      throw new Error('insecure context');
    });
    expect(generateMessageId()).toMatch(uuid);
    spy.mockRestore();
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
    try {
      expect(generateMessageId()).toMatch(uuid);
    } finally {
      if (saved) Object.defineProperty(globalThis, 'crypto', saved);
    }
  });

  it('longTimerClock waits out delays past 2^31 - 1 ms in steps, even on a clock that lags behind its timers', async () => {
    let now = 0; // a clock that never moves: the steps waited count
    const stuck = { now: () => now, setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>) };
    const clock = longTimerClock(stuck);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('long'), 3 * MAX_TIMER_DELAY + 5);
    clock.setTimeout(() => fired.push('never'), Infinity);
    const cleared = clock.setTimeout(() => fired.push('cleared'), 2 * MAX_TIMER_DELAY);
    clock.setTimeout(() => fired.push('nan'), NaN);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_DELAY + 1);
    clock.clearTimeout(cleared);
    expect(fired).toEqual(['nan']);
    await vi.advanceTimersByTimeAsync(2 * MAX_TIMER_DELAY + 3);
    expect(fired).toEqual(['nan']);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toEqual(['nan', 'long']);
    now = Number.MAX_SAFE_INTEGER; // a clock that jumps ahead (a machine that slept) ends the wait at the next step
    clock.setTimeout(() => fired.push('jumped'), 10 * MAX_TIMER_DELAY);
    now = Number.MAX_SAFE_INTEGER * 2;
    await vi.advanceTimersByTimeAsync(MAX_TIMER_DELAY);
    expect(fired).toEqual(['nan', 'long', 'jumped']);
    await vi.advanceTimersByTimeAsync(20 * MAX_TIMER_DELAY);
    expect(fired).toEqual(['nan', 'long', 'jumped']);
    // Like the global clearTimeout, clearing no timer is a no-op.
    expect(() => clock.clearTimeout(null)).not.toThrow();
    expect(() => clock.clearTimeout(undefined)).not.toThrow();
  });

  it('validates channel names like the server', () => {
    for (const ok of ['order-updates', 'order:123', 'room:dashboard', 'a.b_c-d', 'x'.repeat(128)]) expect(isValidChannel(ok)).toBe(true);
    for (const bad of ['', 'x'.repeat(129), 'a b', 'a#b', ':a', 'a:', 'a:b:c', 'é']) expect(isValidChannel(bad)).toBe(false);
  });

  it('logs through console.debug only with debug on', async () => {
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => {});
    const quiet = makeClient();
    await openClient(quiet);
    expect(debug).not.toHaveBeenCalled();
    const loud = makeClient({ debug: true });
    await openClient(loud);
    expect(debug).toHaveBeenCalled();
    expect(debug.mock.calls[0]?.[0]).toBe('[rtcollab]');
  });
});

describe('token and subprotocols', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl';

  it('moves ?token= into a bearer.<token> subprotocol after the real one by default', () => {
    const client = makeClient({ url: `ws://test.invalid/ws?token=${jwt}&tenant=t1` });
    client.connect();
    const sock = FakeWebSocket.last;
    expect(sock.url).toBe('ws://test.invalid/ws?tenant=t1');
    expect(sock.protocols).toEqual([DEFAULT_PROTOCOL, `bearer.${jwt}`]);
    client.destroy();
  });

  it('offers the given protocols, then the token', async () => {
    let n = 0;
    const client = makeClient({ url: () => `ws://test.invalid/ws?token=${jwt}${++n}`, protocols: ['app.v2', 'app.v1'] });
    client.connect();
    expect(FakeWebSocket.last.protocols).toEqual(['app.v2', 'app.v1', `bearer.${jwt}1`]);
    FakeWebSocket.last.open();
    await flush();
    FakeWebSocket.last.serverClose(1006, '');
    await vi.advanceTimersByTimeAsync(2000);
    // every attempt takes the URL's current token
    expect(FakeWebSocket.last.protocols).toEqual(['app.v2', 'app.v1', `bearer.${jwt}2`]);
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/ws');
    client.destroy();
  });

  it("keeps the token in the URL with tokenTransport: 'query'", () => {
    const client = makeClient({ url: `ws://test.invalid/ws?token=${jwt}`, tokenTransport: 'query', protocols: 'app.v1' });
    client.connect();
    expect(FakeWebSocket.last.url).toBe(`ws://test.invalid/ws?token=${jwt}`);
    expect(FakeWebSocket.last.protocols).toEqual(['app.v1']);
    client.destroy();
  });

  it('passes protocols through unchanged without a token', () => {
    const client = makeClient({ protocols: 'app.v1' });
    client.connect();
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/ws');
    expect(FakeWebSocket.last.protocols).toEqual(['app.v1']);
    client.destroy();
    const plain = makeClient();
    plain.connect();
    expect(FakeWebSocket.last.protocols).toBeUndefined();
    plain.destroy();
  });

  it('leaves a token that is not a valid subprotocol name in the URL', () => {
    const client = makeClient({ url: 'ws://test.invalid/ws?token=a%20b' });
    client.connect();
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/ws?token=a%20b');
    expect(FakeWebSocket.last.protocols).toBeUndefined();
    client.destroy();
  });

  it('adds the connect parameters to every later handshake, beside the token', async () => {
    const client = makeClient({ url: () => 'ws://test.invalid/ws?tenant=t1&status=online', getToken: () => jwt, reconnectInterval: 10 });
    expect(() => client.setConnectParam('token', 'forged')).toThrow(TypeError);
    client.setConnectParam('status', 'offline');
    client.connect();
    await flush();
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/ws?tenant=t1&status=offline');
    expect(FakeWebSocket.last.protocols).toEqual([DEFAULT_PROTOCOL, `bearer.${jwt}`]);
    FakeWebSocket.last.open();
    await flush();
    // The open connection keeps its handshake; the next one goes without.
    client.setConnectParam('status', null);
    FakeWebSocket.last.serverClose(1006, '');
    await vi.advanceTimersByTimeAsync(2000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(FakeWebSocket.last.url).toBe('ws://test.invalid/ws?tenant=t1&status=online');
    client.destroy();
  });

  it('does not connect with a token over MAX_TOKEN_BYTES', () => {
    const client = makeClient({ url: `ws://test.invalid/ws?token=${'a'.repeat(MAX_TOKEN_BYTES + 1)}`, reconnect: false });
    const errors = record(client, 'error');
    client.connect();
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(errors[0]?.event).toMatchObject({ code: 'SOCKET_ERROR' });
    client.destroy();
  });
});
