import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeError, WebSocketClient, type WebSocketClientEvents, type WebSocketClientOptions } from '../src/index.js';
import { tokenExpiry } from '../src/websocket-client.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

let ids = 0;

/** An unsigned JWT-shaped token with `exp` (seconds) and a serial in `jti`. */
function jwt(expSeconds: number, serial: number): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'alice', exp: expSeconds, jti: serial })}.sig`;
}

function makeClient(o: Partial<WebSocketClientOptions> = {}): WebSocketClient {
  return new WebSocketClient({
    url: 'ws://test.invalid/ws?tenant=acme',
    WebSocketImpl: FakeWebSocket,
    random: () => 0.5,
    generateId: () => `m${++ids}`,
    heartbeatInterval: 0,
    maxConnectionAge: 0,
    rateLimit: false,
    ...o,
  });
}

const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

// The token travels as a bearer.<token> subprotocol by default, or in the
// URL's token parameter.
function tokenOf(sock: FakeWebSocket): string | null {
  const protocols = typeof sock.protocols === 'string' ? [sock.protocols] : (sock.protocols ?? []);
  const carried = protocols.find((p) => p.startsWith('bearer.'));
  return carried !== undefined ? carried.slice('bearer.'.length) : new URL(sock.url).searchParams.get('token');
}

/** Connects a client made with `o`, opens its first socket, and records the causes of its closes. */
async function openClient(o: Partial<WebSocketClientOptions>): Promise<{ client: WebSocketClient; sock: FakeWebSocket; causes: string[] }> {
  const client = makeClient(o);
  const causes: string[] = [];
  client.on('close', (e) => causes.push(e.cause));
  client.connect();
  await flush();
  const sock = FakeWebSocket.last;
  sock.open();
  await flush();
  return { client, sock, causes };
}

/**
 * Checks that the token of `sock` is refreshed `ms` from now, not sooner:
 * `getToken` is called for the `calls`-th time then, and `sock` is closed
 * by plan for it.
 */
async function expectRefreshIn(ms: number, getToken: { mock: { calls: unknown[] } }, calls: number, sock: FakeWebSocket): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms - 1);
  expect(getToken.mock.calls).toHaveLength(calls - 1);
  expect(sock.closedWith).toBeNull();
  await vi.advanceTimersByTimeAsync(1);
  expect(getToken.mock.calls).toHaveLength(calls);
  expect(sock.closedWith).toEqual({ code: 1000, reason: 'token refresh' });
}

/**
 * A fake server whose clock is `skew` ms (or `skew.ms`, read at each reply)
 * off this client's: its hello reply carries that clock as serverTime.
 */
function serverWithClock(skew: number | { ms: number }, autoAck: string[] = ['subscribe', 'ping']): FakeServer {
  const server: FakeServer = new FakeServer({
    autoAck,
    handler: (sock, frame) => {
      if (frame.type !== 'hello') return false;
      const serverTime = new Date(Date.now() + (typeof skew === 'number' ? skew : skew.ms)).toISOString();
      server.ack(sock, frame, { connectionId: 'c1', userId: 'alice', username: 'Alice', tenant: 'acme', serverTime });
      return true;
    },
  });
  return server;
}

beforeEach(() => {
  ids = 0;
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  FakeWebSocket.reset();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('getToken', () => {
  it('reads exp from a JWT without verifying it', () => {
    expect(tokenExpiry(jwt(1_800_000_000, 1))).toBe(1_800_000_000_000);
    expect(tokenExpiry('not-a-jwt')).toBeNull();
    expect(tokenExpiry('a.%%%.c')).toBeNull();
    expect(tokenExpiry(`a.${Buffer.from('{"exp":"soon"}').toString('base64url')}.c`)).toBeNull();
  });

  it('fetches a token before each connect and refreshes it ahead of exp, resending what was in flight', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'subscribe'] });
    let serial = 0;
    const getToken = vi.fn(async () => jwt(Math.floor(Date.now() / 1000) + 600, ++serial));
    const client = makeClient({ getToken, tokenRefreshLeeway: 60_000 });
    const events: WebSocketClientEvents['close'][] = [];
    client.on('close', (e) => events.push(e));
    client.connect();
    await flush();
    const first = FakeWebSocket.last;
    expect(getToken).toHaveBeenCalledTimes(1);
    expect(tokenOf(first)).toBe(jwt(Date.parse('2026-01-01T00:10:00Z') / 1000, 1));
    expect(new URL(first.url).searchParams.get('tenant')).toBe('acme');
    first.open();
    await flush();
    await client.subscribe('order:1');

    await vi.advanceTimersByTimeAsync(540_000 - 10);
    const p = client.request('change', { payload: { v: 1 } }, { timeout: 60_000 }); // in flight at the refresh
    await flush();
    const sent = first.framesOfType('change')[0]!;
    expect(getToken).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(10); // exp - 60 s
    expect(getToken).toHaveBeenCalledTimes(2);
    // The reconnect waits for the reply in flight, at most requestTimeout.
    await vi.advanceTimersByTimeAsync(10_000 - 1);
    expect(first.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(first.closedWith).toEqual({ code: 1000, reason: 'token refresh' });
    expect(events).toEqual([{ code: 1000, reason: 'token refresh', wasClean: false, willReconnect: true, cause: 'token-refresh' }]);
    expect(FakeWebSocket.instances).toHaveLength(2); // at once: a planned reconnect has no backoff
    const second = FakeWebSocket.last;
    expect(getToken).toHaveBeenCalledTimes(2); // the token fetched ahead is used, not fetched again
    expect(tokenOf(second)).toContain('.');
    expect(tokenOf(second)).not.toBe(tokenOf(first));
    second.open();
    await flush();
    expect(second.frames.map((f) => f.type)).toEqual(['hello', 'subscribe', 'change']);
    expect(second.framesOfType('change')[0]!.messageId).toBe(sent.messageId);
    server.ack(second, second.framesOfType('change')[0]!, { version: 1 });
    await expect(p).resolves.toEqual({ version: 1 });
    client.destroy();
  });

  it('sends a frame refused with TOKEN_EXPIRED again on a connection with a fresh token', async () => {
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) + 3600, ++serial));
    const server = new FakeServer({
      autoAck: ['hello'],
      handler: (sock, frame) => {
        if (frame.type !== 'change') return false;
        if (tokenOf(sock) === jwt(Date.parse('2026-01-01T01:00:00Z') / 1000, 1)) {
          server.error(sock, frame, 'UNAUTHORIZED', { details: { reason: 'TOKEN_EXPIRED' } });
        } else {
          server.ack(sock, frame, { applied: true });
        }
        return true;
      },
    });
    const { client, sock: first } = await openClient({ getToken });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const p = client.request('change', { payload: { v: 1 } });
    await flush();
    expect(first.closedWith).toEqual({ code: 4001, reason: 'token expired' });
    const second = FakeWebSocket.last;
    expect(second).not.toBe(first);
    second.open();
    await flush();
    await expect(p).resolves.toEqual({ applied: true });
    const ids = server.framesOfType('change').map((f) => f.messageId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(1); // the same request, sent twice with its id
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(errors).toEqual([]);
    client.destroy();
  });

  it('holds a queue: false request refused with TOKEN_EXPIRED again and again at most its timeout in all', async () => {
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) + 3600, ++serial));
    const server = new FakeServer({
      autoAck: ['hello'],
      handler: (sock, frame) => {
        if (frame.type !== 'notify') return false;
        server.error(sock, frame, 'UNAUTHORIZED', { details: { reason: 'TOKEN_EXPIRED' } });
        return true;
      },
    });
    const client = makeClient({ getToken, connectTimeout: 0 });
    client.connect();
    await flush();
    FakeWebSocket.last.open();
    await flush();
    let failed: unknown = null;
    client.request('notify', { payload: { n: 1 } }, { queue: false, timeout: 2000 }).catch((e: unknown) => (failed = e));
    await flush();
    // Each new connection opens after 600 ms and refuses the request again.
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(600);
      FakeWebSocket.last.open();
      await flush();
    }
    expect(server.framesOfType('notify')).toHaveLength(4);
    expect(failed).toBeNull();
    await vi.advanceTimersByTimeAsync(200); // 2 s since it was first held
    expect(failed).toMatchObject({ code: 'DISCONNECTED', retryable: true });
    client.destroy();
  });

  it('holds a queue: false request refused with TOKEN_EXPIRED and sends it on the new connection, at most its timeout', async () => {
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) + 3600, ++serial));
    const server = new FakeServer({
      autoAck: ['hello'],
      handler: (sock, frame) => {
        if (frame.type !== 'notify') return false;
        if (sock === FakeWebSocket.instances[0]) server.error(sock, frame, 'UNAUTHORIZED', { details: { reason: 'TOKEN_EXPIRED' } });
        else server.ack(sock, frame, { sent: true });
        return true;
      },
    });
    const client = makeClient({ getToken, connectTimeout: 0 });
    client.connect();
    await flush();
    const first = FakeWebSocket.last;
    first.open();
    await flush();
    const p = client.request('notify', { payload: { n: 1 } }, { queue: false });
    let settled: unknown = null;
    p.then((v) => (settled = v), (e: unknown) => (settled = e));
    await flush();
    expect(first.closedWith).toEqual({ code: 4001, reason: 'token expired' });
    expect(settled).toBeNull(); // the server changed nothing: held for the new connection
    const second = FakeWebSocket.last;
    second.open();
    await flush();
    await expect(p).resolves.toEqual({ sent: true });
    const ids = server.framesOfType('notify').map((f) => f.messageId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(1);

    // Held at most its timeout when the new connection is slow to open.
    server.handler = (sock, frame) => {
      if (frame.type !== 'notify') return false;
      server.error(sock, frame, 'UNAUTHORIZED', { details: { reason: 'TOKEN_EXPIRED' } });
      return true;
    };
    let failed: unknown = null;
    client.request('notify', { payload: { n: 2 } }, { queue: false, timeout: 2000 }).catch((e: unknown) => (failed = e));
    await flush();
    expect(second.closedWith).toEqual({ code: 4001, reason: 'token expired' });
    await vi.advanceTimersByTimeAsync(1999);
    expect(failed).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(failed).toMatchObject({ code: 'DISCONNECTED', retryable: true });
    FakeWebSocket.last.open();
    await flush();
    expect(server.framesOfType('notify')).toHaveLength(3); // not sent again after it failed
    client.destroy();
  });

  it('holds a queue: false request while the reconnect for a token refresh fetches its token, and fails it when the fetch fails', async () => {
    const server = new FakeServer({ autoAck: ['hello', 'notify'] });
    const fetches: { resolve: (t: string) => void; reject: (e: Error) => void }[] = [];
    let serial = 0;
    const getToken = vi.fn(
      () => new Promise<string>((resolve, reject) => fetches.push({ resolve, reject })),
    );
    const client = makeClient({ getToken, tokenRefreshLeeway: 60_000 });
    client.connect();
    fetches.shift()!.resolve(jwt(Math.floor(Date.now() / 1000) + 120, ++serial));
    await flush();
    const first = FakeWebSocket.last;
    first.open();
    await flush();
    await vi.advanceTimersByTimeAsync(60_000); // refresh at half the lifetime
    fetches.shift()!.resolve(jwt(Math.floor(Date.now() / 1000) + 120, ++serial));
    await flush();
    expect(first.closedWith).toEqual({ code: 1000, reason: 'token refresh' });
    const second = FakeWebSocket.last;
    const held = client.request('notify', { payload: { n: 1 } }, { queue: false });
    second.open();
    await flush();
    await expect(held).resolves.toEqual({});
    expect(second.framesOfType('notify')).toHaveLength(1);

    // The server refuses the next frame as expired: reconnect, fetching a token.
    server.handler = (sock, frame) => {
      if (sock !== second || frame.type !== 'change') return false;
      server.error(sock, frame, 'UNAUTHORIZED', { details: { reason: 'TOKEN_EXPIRED' } });
      return true;
    };
    void client.request('change', {}).catch(() => {});
    await flush();
    expect(second.closedWith).toEqual({ code: 4001, reason: 'token expired' });
    expect(fetches).toHaveLength(1);
    let failed: unknown = null;
    client.request('notify', { payload: { n: 2 } }, { queue: false }).catch((e: unknown) => (failed = e));
    await flush();
    expect(failed).toBeNull();
    fetches.shift()!.reject(new Error('identity provider down'));
    await flush();
    expect(failed).toMatchObject({ code: 'DISCONNECTED' });
    client.destroy();
  });

  it('reports a getToken that fails at connect as TOKEN_ERROR and tries again with backoff', async () => {
    new FakeServer();
    const outcomes: (() => string | Promise<string>)[] = [
      () => Promise.reject(new Error('session expired: login required')),
      () => {
        throw new Error('no session');
      },
      () => '',
      () => new Promise<string>(() => {}), // never settles
      () => jwt(Math.floor(Date.now() / 1000) + 3600, 1),
    ];
    const getToken = vi.fn(() => outcomes.shift()!());
    const client = makeClient({ getToken, connectTimeout: 3000 });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    const scheduled: number[] = [];
    client.on('reconnect-scheduled', (e) => scheduled.push(e.attempt));
    client.connect();
    for (let i = 0; i < 60 && FakeWebSocket.instances.length === 0; i++) await vi.advanceTimersByTimeAsync(500);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['TOKEN_ERROR', 'cannot get a token: session expired: login required'],
      ['TOKEN_ERROR', 'cannot get a token: no session'],
      ['TOKEN_ERROR', 'cannot get a token: getToken returned no token'],
      ['TOKEN_ERROR', 'cannot get a token: no token within 3000 ms'],
    ]);
    expect(errors[0]!.cause).toMatchObject({ message: 'session expired: login required' });
    expect(scheduled).toEqual([1, 2, 3, 4]);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(tokenOf(FakeWebSocket.last)).toContain('.');
    client.destroy();
  });

  it('counts a getToken that does not settle within connectTimeout as a failed attempt, retries with backoff, and connects with the late token', async () => {
    new FakeServer({ autoAck: ['hello', 'subscribe'] });
    const fetches: { resolve: (t: string) => void }[] = [];
    let serial = 0;
    const getToken = vi.fn(() => {
      // The first token comes at once; the second call hangs (an identity
      // provider that never answers) until the test settles it.
      if (serial === 0) return jwt(Math.floor(Date.now() / 1000) + 3600, ++serial);
      return new Promise<string>((resolve) => fetches.push({ resolve }));
    });
    const client = makeClient({ getToken, connectTimeout: 3000, jitter: 'none' });
    const events = [] as string[];
    client.on('close', (e) => events.push(`close:${e.cause}`));
    client.on('reconnect-scheduled', (e) => events.push(`scheduled:${e.attempt}:${e.delay}`));
    client.connect();
    await flush();
    const first = FakeWebSocket.last;
    first.open();
    await flush();
    first.serverClose(1006);
    let subscribed = 'pending';
    void client.subscribe('order-updates').then(() => (subscribed = 'ok'), (e: RealtimeError) => (subscribed = e.code));
    await vi.advanceTimersByTimeAsync(1000); // the first retry fetches a token, which hangs
    expect(getToken).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(2999);
    expect(events).toEqual(['close:server', 'scheduled:1:1000']);
    await vi.advanceTimersByTimeAsync(1); // connectTimeout since the attempt started
    expect(events).toEqual(['close:server', 'scheduled:1:1000', 'close:connect-timeout', 'scheduled:2:1500']);
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1500);
    expect(getToken).toHaveBeenCalledTimes(3);
    // The token of the attempt that timed out comes late, while the next
    // attempt waits for its own: that attempt connects with it.
    const late = jwt(Math.floor(Date.now() / 1000) + 3600, 2);
    fetches[0]!.resolve(late);
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(2);
    const second = FakeWebSocket.last;
    expect(tokenOf(second)).toBe(late);
    // Its own comes after it: kept for the next connect, nothing more opened.
    fetches[1]!.resolve(jwt(Math.floor(Date.now() / 1000) + 3600, 3));
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(2);
    second.open();
    await flush();
    expect(subscribed).toBe('ok');
    expect(client.state).toBe('open');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(client.state).toBe('open');
    // The token kept is no fresher than the connection's: the next connect fetches its own.
    second.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(getToken).toHaveBeenCalledTimes(4);
    expect(FakeWebSocket.instances).toHaveLength(2);
    client.destroy();
  });

  it('connects with a token that comes after connectTimeout, when getToken is slower than that every time', async () => {
    new FakeServer({ autoAck: ['hello', 'subscribe'] });
    let serial = 0;
    // A slow identity provider: each token takes 10.5 s, past connectTimeout.
    const getToken = vi.fn(
      () => new Promise<string>((resolve) => setTimeout(() => resolve(jwt(Math.floor(Date.now() / 1000) + 3600, ++serial)), 10_500)),
    );
    const client = makeClient({ getToken, jitter: 'none' });
    const causes: string[] = [];
    client.on('close', (e) => causes.push(e.cause));
    client.on('error', () => {});
    client.connect();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(causes).toEqual(['connect-timeout']);
    expect(FakeWebSocket.instances).toHaveLength(0);
    // The token comes during the backoff wait: the next attempt takes it.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(getToken).toHaveBeenCalledTimes(1);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(tokenOf(FakeWebSocket.last)).toBe(jwt(Math.floor((Date.now() - 500) / 1000) + 3600, 1));
    FakeWebSocket.last.open();
    await flush();
    expect(client.state).toBe('open');
    expect(causes).toEqual(['connect-timeout']);
    client.destroy();
  });

  it('reports a failed refresh, tries again before exp, and keeps the connection meanwhile', async () => {
    new FakeServer();
    let calls = 0;
    const getToken = vi.fn(async () => {
      calls++;
      if (calls === 2) throw new Error('identity provider down');
      return jwt(Math.floor(Date.now() / 1000) + 120, calls);
    });
    const { client, sock: first } = await openClient({ getToken, tokenRefreshLeeway: 60_000 });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    await vi.advanceTimersByTimeAsync(60_000); // lifetime 120 s: refresh at half of it
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(errors).toEqual(['TOKEN_ERROR']);
    expect(first.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(getToken).toHaveBeenCalledTimes(3);
    expect(first.closedWith).toEqual({ code: 1000, reason: 'token refresh' });
    client.destroy();
  });

  it('dates exp on the server clock of the hello reply, so a client clock that is off does not matter', async () => {
    // The client's clock is an hour ahead of the server's (and the
    // issuer's): by this client's clock the token would look expired on
    // arrival.
    serverWithClock(-3_600_000);
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    let serial = 0;
    const getToken = vi.fn(() => {
      const issuerNow = Math.floor(Date.now() / 1000) - 3600;
      return `${b64({ alg: 'HS256' })}.${b64({ iat: issuerNow, exp: issuerNow + 600, jti: ++serial })}.sig`;
    });
    const { client, sock: first } = await openClient({ getToken, tokenRefreshLeeway: 60_000 });
    await expectRefreshIn(540_000, getToken, 2, first);
    client.destroy();
  });

  it('does not reconnect in a loop when the client clock is ahead of the server by more than the token lifetime (no iat)', async () => {
    vi.setSystemTime(new Date('2026-01-01T02:00:00Z'));
    serverWithClock(-7_200_000); // the server and the issuer: 00:00
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) - 7200 + 3600, ++serial)); // valid an hour
    const { client, causes } = await openClient({ getToken });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(getToken).toHaveBeenCalledTimes(1);
    expect(causes).toEqual([]);
    // Refreshed 60 s before exp on the server's clock.
    await vi.advanceTimersByTimeAsync(3_540_000 - 60_000 - 1);
    expect(getToken).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(causes).toEqual(['token-refresh']);
    client.destroy();
  });

  it('reconnects with a fresh token after the browser clock is corrected past the token lifetime, and measures the server clock again', async () => {
    // The browser clock is an hour behind the server's (and the issuer's)
    // when the first connection measures the offset.
    const skew = { ms: 3_600_000 };
    serverWithClock(skew);
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor((Date.now() + skew.ms) / 1000) + 900, ++serial)); // 15 minutes
    const { client, sock: first } = await openClient({ getToken, jitter: 'none' });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    // NTP corrects the browser clock (after a resume, say), then the network blips.
    vi.setSystemTime(new Date(Date.now() + 3_600_000));
    skew.ms = 0;
    first.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000); // the first backoff envelope
    expect(getToken).toHaveBeenCalledTimes(2);
    // Not refused on the offset the last connection measured, which calls
    // every fresh token expired: the server decides.
    expect(FakeWebSocket.instances).toHaveLength(2);
    const second = FakeWebSocket.last;
    expect(tokenOf(second)).toBe(jwt(Math.floor(Date.now() / 1000) + 900, 2));
    second.open();
    await flush();
    expect(client.state).toBe('open');
    // The refresh is planned on the clock this connection reported: 60 s
    // before exp, not a second after connecting.
    await expectRefreshIn(840_000, getToken, 3, second);
    expect(errors).toEqual([]);
    client.destroy();
  });

  it('drops an offset that calls expired a token the server took, so a connection that does not report the clock plans its refresh on the browser clock', async () => {
    new FakeServer({ autoAck: [] });
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) + 900, ++serial));
    const { client, sock: first } = await openClient({ getToken, hello: false, jitter: 'none' });
    // The browser clock is an hour behind the server's: the first reply says so.
    first.receive({ type: 'pong', replyTo: 'p-0', payload: {}, timestamp: new Date(Date.now() + 3_600_000).toISOString() });
    vi.setSystemTime(new Date(Date.now() + 3_600_000)); // then NTP corrects it
    first.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    const second = FakeWebSocket.last;
    expect(second).not.toBe(first);
    second.open(); // the server took the token; nothing it sends reports its clock
    await flush();
    // Not refreshed a second after connecting, again and again.
    await expectRefreshIn(840_000, getToken, 3, second);
    expect(FakeWebSocket.instances).toHaveLength(3);
    client.destroy();
  });

  it('refreshes with the new token after the browser clock is corrected past the token lifetime, instead of refusing it on the offset measured before', async () => {
    const skew = { ms: 3_600_000 };
    serverWithClock(skew);
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor((Date.now() + skew.ms) / 1000) + 900, ++serial));
    const { client, sock: first } = await openClient({ getToken });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    vi.setSystemTime(new Date(Date.now() + 3_600_000));
    skew.ms = 0;
    await expectRefreshIn(840_000, getToken, 2, first); // 60 s before exp
    expect(FakeWebSocket.instances).toHaveLength(2);
    const second = FakeWebSocket.last;
    expect(tokenOf(second)).toBe(jwt(Math.floor(Date.now() / 1000) + 900, 2));
    second.open();
    await flush();
    // The next refresh comes 60 s before the new token's exp, once.
    await expectRefreshIn(840_000, getToken, 3, second);
    expect(FakeWebSocket.instances).toHaveLength(3);
    expect(errors).toEqual([]);
    client.destroy();
  });

  it('with hello off, dates exp on the server clock of the first reply the server sends', async () => {
    vi.setSystemTime(new Date('2026-01-01T02:00:00Z'));
    // The server's clock is two hours behind this client's; it dates its
    // replies as it sends them.
    const server: FakeServer = new FakeServer({
      autoAck: [],
      handler: (sock, f) => {
        if (f.type !== 'subscribe') return false;
        const timestamp = new Date(Date.now() - 7_200_000).toISOString();
        queueMicrotask(() => sock.receive({ type: 'ack', replyTo: f.messageId, channel: 'room:1', payload: { channel: 'room:1' }, timestamp }));
        return true;
      },
    });
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) - 7200 + 3600, ++serial));
    const { client, sock } = await openClient({ getToken, hello: false });
    await client.subscribe('room:1');
    expect(server.framesOfType('subscribe')).toHaveLength(1);
    await expectRefreshIn(3_540_000, getToken, 2, sock);
    client.destroy();
  });

  it('with hello off, does not date exp on the timestamp of an update or event, which is when it was published or announced', async () => {
    new FakeServer({ autoAck: [] });
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) + 900, ++serial));
    const { client, sock } = await openClient({ getToken, hello: false });
    // The first frames: an update sent again 10 minutes after its
    // publication, and an event announced as long ago. The server's clock is
    // this client's.
    const tenMinutesAgo = new Date(Date.now() - 600_000).toISOString();
    sock.receive({ type: 'update', channel: 'order-updates', payload: {}, timestamp: tenMinutesAgo, offset: 3, epoch: 'e1' } as never);
    sock.receive({ type: 'presence', channel: 'room:1', payload: {}, timestamp: tenMinutesAgo });
    await flush();
    await expectRefreshIn(840_000, getToken, 2, sock); // 60 s before exp, not 10 minutes after
    client.destroy();
  });

  it('refreshes a cached token (issued long before it was fetched) ahead of its exp, not a lifetime after the fetch', async () => {
    vi.setSystemTime(new Date('2026-01-01T00:50:00Z'));
    new FakeServer({ autoAck: ['hello', 'subscribe'] });
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const iat = Date.parse('2026-01-01T00:00:00Z') / 1000;
    const cached = `${b64({ alg: 'HS256' })}.${b64({ sub: 'a', iat, exp: iat + 3600 })}.sig`; // expires 01:00
    let serial = 0;
    const getToken = vi.fn(() => (serial++ === 0 ? cached : jwt(Math.floor(Date.now() / 1000) + 3600, serial)));
    const { client, sock: first } = await openClient({ getToken });
    await vi.advanceTimersByTimeAsync(9 * 60_000 - 1);
    expect(getToken).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1); // 00:59, a minute before exp
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(first.closedWith).toEqual({ code: 1000, reason: 'token refresh' });
    client.destroy();
  });

  it('refreshes a token valid for 30 days ahead of its exp, not at once (a timer past 2^31 - 1 ms)', async () => {
    new FakeServer({ autoAck: ['hello', 'ping'] });
    let serial = 0;
    const days30 = 30 * 24 * 3600;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) + days30, ++serial));
    const { client, causes } = await openClient({ getToken });
    await vi.advanceTimersByTimeAsync(1000);
    expect(causes).toEqual([]);
    await vi.advanceTimersByTimeAsync(days30 * 1000 - 60_000 - 1000 - 1);
    expect(causes).toEqual([]);
    expect(getToken).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1); // exp - 60 s
    expect(causes).toEqual(['token-refresh']);
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(FakeWebSocket.instances).toHaveLength(2);
    client.destroy();
  });

  it('never refreshes in a tight loop: a refreshed token that expires no later than the current one (a cache, or expired) is not used', async () => {
    new FakeServer(); // its clock is this client's
    const tokens = [
      jwt(Math.floor(Date.now() / 1000) + 120, 1),
      jwt(Math.floor(Date.now() / 1000) + 120, 1), // the same token again (a cache)
      jwt(Math.floor(Date.now() / 1000) - 10, 2), // expired
    ];
    const getToken = vi.fn(() => tokens.shift() ?? jwt(Math.floor(Date.now() / 1000) - 10, 3));
    const { client, sock: first } = await openClient({ getToken, tokenRefreshLeeway: 60_000 });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    await vi.advanceTimersByTimeAsync(60_000); // half the lifetime
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(errors).toEqual(['TOKEN_ERROR: cannot refresh the token: getToken returned a token that expires no later than the current one']);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(getToken).toHaveBeenCalledTimes(3);
    expect(errors[1]).toBe('TOKEN_ERROR: cannot refresh the token: getToken returned a token that expires no later than the current one');
    expect(first.closedWith).toBeNull();
    expect(FakeWebSocket.instances).toHaveLength(1);
    client.destroy();
  });

  it('connects with a token the server clock calls expired: the server refuses it, and the attempt is retried with backoff', async () => {
    new FakeServer(); // its clock is this client's
    let serial = 0;
    const getToken = vi.fn(() => jwt(Math.floor(Date.now() / 1000) + (serial === 0 ? 3600 : -10), ++serial));
    const { client, sock: first } = await openClient({ getToken, jitter: 'none' }); // hello: the server's clock is known
    const delays: number[] = [];
    client.on('reconnect-scheduled', (e) => delays.push(e.delay));
    first.serverClose(1006);
    for (let i = 0; i < 600; i++) {
      await vi.advanceTimersByTimeAsync(100);
      // The server refuses the expired token at the handshake (401): the
      // socket errors and closes without opening.
      const s = FakeWebSocket.last;
      if (s !== first && s.readyState === 0) s.fail();
    }
    const sockets = FakeWebSocket.instances.slice(1);
    expect(sockets.length).toBeGreaterThan(0);
    // Each attempt took a new token from getToken (the expired one it returns).
    expect(new Set(sockets.map(tokenOf)).size).toBe(sockets.length);
    for (const s of sockets) expect(tokenExpiry(tokenOf(s)!)).toBeLessThan(Date.now());
    expect(delays.slice(0, 5)).toEqual([1000, 1500, 2250, 3375, 5062.5]);
    expect(getToken.mock.calls.length).toBeLessThan(12);
    client.destroy();
  });

  it('is validated', () => {
    expect(() => makeClient({ getToken: 'token' as unknown as () => string })).toThrow(/getToken/);
    expect(() => makeClient({ tokenRefreshLeeway: -1 })).toThrow(/tokenRefreshLeeway/);
  });
});
