// The ordering of channel history updates in the client: live updates out
// of offset order (concurrent fan-outs, which the real server cannot
// produce on demand) are held and delivered in order, a gap that does not
// fill is read from history, and a resubscribe merges the recovery with
// the live updates that arrive meanwhile.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocketClient, type RecoveryFailed, type WebSocketClientOptions, type WebSocketMessage } from '../src/index.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';

let ids = 0;

function makeClient(options: Partial<WebSocketClientOptions> = {}): WebSocketClient {
  return new WebSocketClient({
    url: 'ws://test.invalid/ws',
    WebSocketImpl: FakeWebSocket,
    random: () => 0.5,
    generateId: () => `m${++ids}`,
    heartbeatInterval: 0,
    maxConnectionAge: 0,
    rateLimit: false,
    hello: false,
    reconnectInterval: 10,
    ...options,
  });
}

const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

/** The server drops the connection; the client reconnects and resubscribes. */
async function reconnect(): Promise<void> {
  FakeWebSocket.last.serverClose();
  await vi.advanceTimersByTimeAsync(50);
  FakeWebSocket.last.open();
  await flush();
  await flush();
}

function update(sock: FakeWebSocket, offset: number, epoch = 'e1'): void {
  sock.receive({ type: 'update', channel: 'order-updates', payload: { n: offset }, offset, epoch });
}

function pub(offset: number): { offset: number; userId: string; messageId: string; timestamp: string; payload: unknown } {
  return { offset, userId: 'u', messageId: `p${offset}`, timestamp: '2026-12-06T00:00:00.000Z', payload: { n: offset } };
}

/**
 * A server of order-updates that answers the first subscribe at offset
 * `at`, and every later one (when `resubscribe` is given) with its
 * `recovery`, its `live` update overtaking it; `history` answers the
 * history reads, which it returns.
 */
function streamServer(
  at: number,
  history: (server: FakeServer, sock: FakeWebSocket, f: SentFrame) => void,
  resubscribe?: { live: number; recovery: unknown },
): SentFrame[] {
  const histories: SentFrame[] = [];
  let subscribes = 0;
  const server = new FakeServer({
    handler: (sock, f) => {
      if (f.type === 'subscribe') {
        subscribes++;
        if (subscribes === 1 || resubscribe === undefined) {
          server.ack(sock, f, { channel: 'order-updates', position: { offset: at, epoch: 'e1' } });
        } else {
          const { live, recovery } = resubscribe;
          update(sock, live);
          server.ack(sock, f, recovery);
        }
        return true;
      }
      if (f.type === 'history') {
        histories.push(f);
        history(server, sock, f);
        return true;
      }
      return false;
    },
  });
  return histories;
}

/**
 * A connected client subscribed to order-updates, with the updates it
 * delivered and the recoveries it reported failed.
 */
async function subscribed(options: Partial<WebSocketClientOptions> = {}): Promise<{
  client: WebSocketClient;
  got: WebSocketMessage[];
  failures: RecoveryFailed[];
  ack: Awaited<ReturnType<WebSocketClient['subscribe']>>;
}> {
  const client = makeClient(options);
  const got: WebSocketMessage[] = [];
  const failures: RecoveryFailed[] = [];
  client.onChannel('order-updates', (m) => got.push(m));
  client.on('recovery-failed', (e) => failures.push(e));
  client.connect();
  FakeWebSocket.last.open();
  const ack = await client.subscribe('order-updates');
  return { client, got, failures, ack };
}

/**
 * A connected client subscribing to order-updates (the subscribe not
 * awaited) on a server that holds the subscribe (`held`, answered when the
 * test does) and answers history with `history` when given.
 */
async function subscribing(options: Partial<WebSocketClientOptions> = {}, history?: unknown) {
  const held: { sock?: FakeWebSocket; f?: SentFrame } = {};
  const histories: SentFrame[] = [];
  const server = new FakeServer({
    handler: (sock, f) => {
      if (f.type === 'subscribe') {
        held.sock = sock;
        held.f = f;
        return true;
      }
      if (f.type === 'history' && history !== undefined) {
        histories.push(f);
        server.ack(sock, f, history);
        return true;
      }
      return false;
    },
  });
  const client = makeClient(options);
  const got: WebSocketMessage[] = [];
  client.onChannel('order-updates', (m) => got.push(m));
  client.connect();
  const sock = FakeWebSocket.last;
  sock.open();
  const sub = client.subscribe('order-updates');
  await flush();
  /** Answers the held subscribe. */
  const reply = (payload: unknown): void => server.ack(held.sock!, held.f!, payload);
  return { client, got, sock, sub, histories, reply };
}

beforeEach(() => {
  ids = 0;
  vi.useFakeTimers();
  FakeWebSocket.reset();
});

afterEach(() => {
  vi.useRealTimers();
  FakeWebSocket.reset();
});

describe('channel stream ordering', () => {
  it('holds updates past a gap, reads the gap from history, and drops copies', async () => {
    const subscribes: SentFrame[] = [];
    const histories: SentFrame[] = [];
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type === 'subscribe') {
          subscribes.push(f);
          server.ack(sock, f, { channel: 'order-updates', position: { offset: 0, epoch: 'e1' } });
          return true;
        }
        if (f.type === 'history') {
          histories.push(f);
          server.ack(sock, f, { channel: 'order-updates', recovered: true, position: { offset: 5, epoch: 'e1' }, publications: [pub(4), pub(5)], hasMore: false });
          return true;
        }
        return false;
      },
    });
    const { client, got, ack } = await subscribed();
    const sock = FakeWebSocket.last;
    expect(ack.position).toEqual({ offset: 0, epoch: 'e1' });
    expect(subscribes[0]?.payload).toBeUndefined();

    update(sock, 1);
    update(sock, 3);
    expect(got.map((m) => m.offset)).toEqual([1]);
    update(sock, 2);
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3]);
    update(sock, 2); // a copy
    update(sock, 5); // 4 is missing
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(600);
    expect(histories[0]?.payload).toEqual({ since: { offset: 3, epoch: 'e1' }, limit: 1000 });
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(got[3]).toMatchObject({ type: 'update', channel: 'order-updates', payload: { n: 4 }, userId: 'u', messageId: 'p4', epoch: 'e1' });
    update(sock, 5);
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
    client.destroy();
  });

  it('resubscribes from the last position, merges the recovery pages with live updates, then reports a failed recovery', async () => {
    let recovered = true;
    const subscribes: SentFrame[] = [];
    const histories: SentFrame[] = [];
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type === 'subscribe') {
          subscribes.push(f);
          if (subscribes.length === 1) {
            server.ack(sock, f, { channel: 'order-updates', position: { offset: 2, epoch: 'e1' } });
          } else if (recovered) {
            // A live update of the hand-over window arrives before the reply.
            update(sock, 5);
            server.ack(sock, f, { channel: 'order-updates', recovered: true, position: { offset: 5, epoch: 'e1' }, publications: [pub(3)], hasMore: true });
          } else {
            update(sock, 1, 'e2');
            server.ack(sock, f, { channel: 'order-updates', recovered: false, position: { offset: 9, epoch: 'e2' }, publications: [], hasMore: false });
          }
          return true;
        }
        if (f.type === 'history') {
          histories.push(f);
          server.ack(sock, f, { channel: 'order-updates', recovered: true, position: { offset: 5, epoch: 'e1' }, publications: [pub(4), pub(5)], hasMore: false });
          return true;
        }
        return false;
      },
    });
    const { client, got, failures } = await subscribed();

    await reconnect();
    expect(subscribes[1]?.payload).toEqual({ since: { offset: 2, epoch: 'e1' } });
    expect(histories[0]?.payload).toEqual({ since: { offset: 3, epoch: 'e1' }, limit: 1000 });
    expect(got.map((m) => m.offset)).toEqual([3, 4, 5]);
    expect(failures).toEqual([]);

    recovered = false;
    await reconnect();
    expect(subscribes[2]?.payload).toEqual({ since: { offset: 5, epoch: 'e1' } });
    expect(failures).toEqual([{ channel: 'order-updates', since: { offset: 5, epoch: 'e1' }, position: { offset: 9, epoch: 'e2' } }]);
    update(FakeWebSocket.last, 10, 'e2');
    expect(got.map((m) => `${m.epoch}:${m.offset}`)).toEqual(['e1:3', 'e1:4', 'e1:5', 'e2:10']);
    client.destroy();
  });

  it('reports each gap a refused history read gives up before delivering the updates after it', async () => {
    streamServer(0, (server, sock, f) => server.error(sock, f, 'FORBIDDEN'));
    const { client, got, failures } = await subscribed();
    const order: string[] = [];
    client.on('recovery-failed', (e) => order.push(`lost ${e.since.offset + 1}-${e.position.offset}`));
    client.onChannel('order-updates', (m) => order.push(`${m.offset}`));
    const sock = FakeWebSocket.last;
    update(sock, 1);
    update(sock, 4); // 2, 3 missing
    update(sock, 7); // 5, 6 missing
    await vi.advanceTimersByTimeAsync(600);
    // Nothing reads them any more: the application is told to refetch.
    expect(order).toEqual(['1', 'lost 2-3', '4', 'lost 5-6', '7']);
    expect(failures).toEqual([
      { channel: 'order-updates', since: { offset: 1, epoch: 'e1' }, position: { offset: 3, epoch: 'e1' } },
      { channel: 'order-updates', since: { offset: 4, epoch: 'e1' }, position: { offset: 6, epoch: 'e1' } },
    ]);
    update(sock, 8);
    expect(got.map((m) => m.offset)).toEqual([1, 4, 7, 8]);
    client.destroy();
  });

  it('reads a gap again after its history read times out, holding the updates after it meanwhile', async () => {
    let answer = false;
    const histories = streamServer(0, (server, sock, f) => {
      // Unanswered (TIMEOUT) until the test says so.
      if (answer) server.ack(sock, f, { channel: 'order-updates', recovered: true, position: { offset: 4, epoch: 'e1' }, publications: [pub(2), pub(3), pub(4)], hasMore: false });
    });
    const { client, got, failures } = await subscribed();
    const sock = FakeWebSocket.last;
    update(sock, 1);
    update(sock, 4);
    await vi.advanceTimersByTimeAsync(600 + 10_000); // the gap read, then its timeout
    expect(histories).toHaveLength(1);
    expect(got.map((m) => m.offset)).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1000 + 10_000); // read again after a backoff delay; no reply again
    expect(histories).toHaveLength(2);
    expect(got.map((m) => m.offset)).toEqual([1]);
    answer = true;
    update(sock, 5); // held with 4
    await vi.advanceTimersByTimeAsync(30_000);
    expect(histories.length).toBeGreaterThan(2);
    expect(histories.map((f) => f.payload)).toEqual(histories.map(() => ({ since: { offset: 1, epoch: 'e1' }, limit: 1000 })));
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(failures).toEqual([]);
    client.destroy();
  });

  it('gives a gap up with recovery-failed after three history reads of it time out, delivering the updates held after it', async () => {
    // History reads time out (throttled, or a Lambda error answered without
    // replyTo) while the live fan-out works.
    const histories = streamServer(0, () => {});
    const { client, got, failures } = await subscribed();
    const sock = FakeWebSocket.last;
    update(sock, 1);
    update(sock, 4); // 2, 3 missing
    // The gap read after 500 ms, then two more after a backoff delay
    // (1 s each here), each timing out after 10 s.
    await vi.advanceTimersByTimeAsync(500 + 10_000 + 1000 + 10_000);
    update(sock, 5); // held with 4
    expect(got.map((m) => m.offset)).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1000 + 10_000);
    expect(histories).toHaveLength(3);
    expect(failures).toEqual([{ channel: 'order-updates', since: { offset: 1, epoch: 'e1' }, position: { offset: 3, epoch: 'e1' } }]);
    expect(got.map((m) => m.offset)).toEqual([1, 4, 5]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(histories).toHaveLength(3); // not read again
    update(sock, 6);
    expect(got.map((m) => m.offset)).toEqual([1, 4, 5, 6]);
    client.destroy();
  });

  it('with requestTimeout 0, gives a gap up after three history reads that get no reply, each waited for 10 s', async () => {
    const histories = streamServer(0, () => {});
    const { client, got, failures } = await subscribed({ requestTimeout: 0 });
    const sock = FakeWebSocket.last;
    update(sock, 1);
    update(sock, 4);
    await vi.advanceTimersByTimeAsync(500 + 10_000);
    expect(histories).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(histories).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000 + 1000 + 10_000);
    expect(histories).toHaveLength(3);
    expect(got.map((m) => m.offset)).toEqual([1, 4]);
    expect(failures).toEqual([{ channel: 'order-updates', since: { offset: 1, epoch: 'e1' }, position: { offset: 3, epoch: 'e1' } }]);
    client.destroy();
  });

  it('after a reconnect, reports the rest of a recovery whose page reads keep timing out, with no live update held', async () => {
    // The first page reaches 3 of 9; the live update of the hand-over is a copy.
    const recovery = { channel: 'order-updates', recovered: true, position: { offset: 9, epoch: 'e1' }, publications: [pub(3)], hasMore: true };
    const histories = streamServer(2, () => {}, { live: 2, recovery });
    const { client, got, failures } = await subscribed();
    await reconnect();
    expect(got.map((m) => m.offset)).toEqual([3]);
    await vi.advanceTimersByTimeAsync(10_000 + 1000 + 10_000 + 1000 + 10_000);
    expect(histories).toHaveLength(3);
    expect(failures).toEqual([{ channel: 'order-updates', since: { offset: 3, epoch: 'e1' }, position: { offset: 9, epoch: 'e1' } }]);
    update(FakeWebSocket.last, 10);
    expect(got.map((m) => m.offset)).toEqual([3, 10]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(histories).toHaveLength(3);
    client.destroy();
  });

  it('after a reconnect, reads the recovery pages again after a history read times out, not skipping what they hold', async () => {
    let answer = false;
    const recovery = { channel: 'order-updates', recovered: true, position: { offset: 9, epoch: 'e1' }, publications: [pub(3)], hasMore: true };
    const page = { channel: 'order-updates', recovered: true, position: { offset: 9, epoch: 'e1' }, publications: [4, 5, 6, 7, 8, 9].map(pub), hasMore: false };
    // The history reads are unanswered (TIMEOUT) until the test says so.
    const histories = streamServer(2, (server, sock, f) => answer && server.ack(sock, f, page), { live: 9, recovery });
    const { client, got, failures } = await subscribed();
    await reconnect();
    await vi.advanceTimersByTimeAsync(10_000); // the history read times out
    expect(got.map((m) => m.offset)).toEqual([3]);
    expect(client.isSubscribed('order-updates')).toBe(true);
    answer = true;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(histories.length).toBeGreaterThan(1);
    expect(histories.map((f) => f.payload)).toEqual(histories.map(() => ({ since: { offset: 3, epoch: 'e1' }, limit: 1000 })));
    expect(got.map((m) => m.offset)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(failures).toEqual([]);
    client.destroy();
  });

  it.each([
    // The live update of the hand-over, past the refused page: reported up to just before it.
    { held: 'a live update past it held', live: 9, delivered: [3, 9], lost: 8 },
    // A copy: nothing held, the rest is reported up to the first page's position.
    { held: 'no live update held', live: 2, delivered: [3], lost: 9 },
  ])('reports the gap a refused recovery page gives up after a reconnect, with $held', async ({ live, delivered, lost }) => {
    const recovery = { channel: 'order-updates', recovered: true, position: { offset: 9, epoch: 'e1' }, publications: [pub(3)], hasMore: true };
    streamServer(2, (server, sock, f) => server.error(sock, f, 'NOT_FOUND'), { live, recovery });
    const { client, got, failures } = await subscribed();
    await reconnect();
    await flush();
    expect(got.map((m) => m.offset)).toEqual(delivered);
    expect(failures).toEqual([{ channel: 'order-updates', since: { offset: 3, epoch: 'e1' }, position: { offset: lost, epoch: 'e1' } }]);
    update(FakeWebSocket.last, 10);
    expect(got.map((m) => m.offset)).toEqual([...delivered, 10]);
    client.destroy();
  });

  it('reads the gap a recovery leaves before a held live update', async () => {
    // The server read the stream at 3 for the recovery; 4 and 5 were
    // published after, and 4's fan-out was lost.
    const recovery = { channel: 'order-updates', recovered: true, position: { offset: 3, epoch: 'e1' }, publications: [pub(3)], hasMore: false };
    const page = { channel: 'order-updates', recovered: true, position: { offset: 5, epoch: 'e1' }, publications: [pub(4), pub(5)], hasMore: false };
    const histories = streamServer(2, (server, sock, f) => server.ack(sock, f, page), { live: 5, recovery });
    const { client, got, failures } = await subscribed();
    await reconnect();
    expect(got.map((m) => m.offset)).toEqual([3]);
    await vi.advanceTimersByTimeAsync(600);
    expect(histories.map((f) => f.payload)).toEqual([{ since: { offset: 3, epoch: 'e1' }, limit: 1000 }]);
    expect(got.map((m) => m.offset)).toEqual([3, 4, 5]);
    expect(failures).toEqual([]);
    client.destroy();
  });

  it('gives up a gap that a history read reaching past it does not fill, instead of reading it again and again', async () => {
    // A reply that claims the stream up to 4 yet does not continue from 1.
    const page = { channel: 'order-updates', recovered: true, position: { offset: 4, epoch: 'e1' }, publications: [pub(3), pub(4)], hasMore: false };
    const histories = streamServer(0, (server, sock, f) => server.ack(sock, f, page));
    const { client, got, failures } = await subscribed();
    update(FakeWebSocket.last, 1);
    update(FakeWebSocket.last, 4);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(histories).toHaveLength(1);
    expect(got.map((m) => m.offset)).toEqual([1, 4]);
    expect(failures).toEqual([{ channel: 'order-updates', since: { offset: 1, epoch: 'e1' }, position: { offset: 3, epoch: 'e1' } }]);
    client.destroy();
  });

  it('reports the publications missed before a live update of a new epoch, and none when it follows the position', async () => {
    const histories: SentFrame[] = [];
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type === 'subscribe') {
          server.ack(sock, f, { channel: 'order-updates', position: { offset: 4, epoch: 'e1' } });
          return true;
        }
        if (f.type === 'history') histories.push(f);
        return false;
      },
    });
    const { client, got, failures } = await subscribed();
    const sock = FakeWebSocket.last;
    update(sock, 5, 'e1');
    // 6 (e1) was lost on the way and expired with every publication kept:
    // the next publication starts e2, its offset following the last one.
    const order: string[] = [];
    client.on('recovery-failed', () => order.push('recovery-failed'));
    client.onChannel('order-updates', (m) => order.push(`${m.epoch}:${m.offset}`));
    update(sock, 7, 'e2');
    expect(order).toEqual(['recovery-failed', 'e2:7']);
    expect(failures).toEqual([{ channel: 'order-updates', since: { offset: 5, epoch: 'e1' }, position: { offset: 6, epoch: 'e2' } }]);
    // A new epoch whose first publication follows the position missed nothing.
    update(sock, 8, 'e3');
    await vi.advanceTimersByTimeAsync(1000);
    expect(got.map((m) => `${m.epoch}:${m.offset}`)).toEqual(['e1:5', 'e2:7', 'e3:8']);
    expect(failures).toHaveLength(1);
    expect(histories).toEqual([]);
    client.destroy();
  });

  it('recovers from a position read while the stream was empty into the epoch its first publications started', async () => {
    const subscribes: SentFrame[] = [];
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type === 'subscribe') {
          subscribes.push(f);
          if (subscribes.length === 1) {
            server.ack(sock, f, { channel: 'order-updates', position: { offset: 7, epoch: 't1800000000' } });
          } else {
            update(sock, 10, 'e3'); // live, held until the recovery is delivered
            server.ack(sock, f, { channel: 'order-updates', recovered: true, position: { offset: 9, epoch: 'e3' }, publications: [pub(8), pub(9)], hasMore: false });
          }
          return true;
        }
        return false;
      },
    });
    const { client, got, failures } = await subscribed();

    await reconnect();
    expect(subscribes[1]?.payload).toEqual({ since: { offset: 7, epoch: 't1800000000' } });
    expect(got.map((m) => `${m.epoch}:${m.offset}`)).toEqual(['e3:8', 'e3:9', 'e3:10']);
    expect(failures).toEqual([]);
    update(FakeWebSocket.last, 11, 'e3');
    update(FakeWebSocket.last, 10, 'e3'); // a copy
    expect(got.map((m) => m.offset)).toEqual([8, 9, 10, 11]);
    client.destroy();
  });

  it('holds the live updates that overtake the first subscribe reply, and delivers those after its position in order', async () => {
    const { client, got, sock, sub, histories, reply } = await subscribing({},
      { channel: 'order-updates', recovered: true, position: { offset: 13, epoch: 'e1' }, publications: [pub(12), pub(13)], hasMore: false });
    // The server wrote the subscription and read the stream at 9; 10, 11
    // and 13 were published after it, their fan-outs out of order and
    // ahead of the reply (12's still on its way); 9 is one the position covers.
    update(sock, 11);
    update(sock, 13);
    update(sock, 9);
    update(sock, 10);
    reply({ channel: 'order-updates', position: { offset: 9, epoch: 'e1' } });
    const ack = await sub;
    expect(got.map((m) => m.offset)).toEqual([10, 11]);
    expect(ack.position).toEqual({ offset: 11, epoch: 'e1' });
    // 13 waits for 12, which is then read from history.
    await vi.advanceTimersByTimeAsync(600);
    expect(histories.map((f) => f.payload)).toEqual([{ since: { offset: 11, epoch: 'e1' }, limit: 1000 }]);
    expect(got.map((m) => m.offset)).toEqual([10, 11, 12, 13]);
    client.destroy();
  });

  it('with requestTimeout 0, delivers the live updates that overtake the first subscribe reply as they come, not held for a reply that may never come', async () => {
    // The subscribe's reply is held, and no timeout ends the wait for it.
    const { client, got, sock, sub, reply } = await subscribing({ requestTimeout: 0 });
    update(sock, 1);
    update(sock, 2);
    await flush();
    expect(got.map((m) => m.offset)).toEqual([1, 2]);
    // A reply that comes after all covers what was delivered: nothing twice.
    reply({ channel: 'order-updates', position: { offset: 1, epoch: 'e1' } });
    expect((await sub).position).toEqual({ offset: 2, epoch: 'e1' });
    update(sock, 2);
    update(sock, 3);
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3]);
    client.destroy();
  });

  it('delivers in order the live updates held for a first subscribe whose connection dropped, and recovers after them', async () => {
    const subscribes: SentFrame[] = [];
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type !== 'subscribe') return false;
        subscribes.push(f);
        // The first reply never comes; the next connection's recovers.
        if (subscribes.length > 1) {
          server.ack(sock, f, { channel: 'order-updates', recovered: true, position: { offset: 12, epoch: 'e1' }, publications: [pub(12)], hasMore: false });
        }
        return true;
      },
    });
    const client = makeClient();
    const got: WebSocketMessage[] = [];
    client.onChannel('order-updates', (m) => got.push(m));
    client.connect();
    FakeWebSocket.last.open();
    void client.subscribe('order-updates');
    await flush();
    update(FakeWebSocket.last, 11);
    update(FakeWebSocket.last, 10);
    await reconnect();
    expect(subscribes[1]?.payload).toEqual({ since: { offset: 11, epoch: 'e1' } });
    expect(got.map((m) => m.offset)).toEqual([10, 11, 12]);
    client.destroy();
  });

  it('orders the first live updates after a position read while the stream was empty', async () => {
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type === 'subscribe') {
          server.ack(sock, f, { channel: 'order-updates', position: { offset: 4, epoch: 't1800000000' } });
          return true;
        }
        return false;
      },
    });
    const { client, got } = await subscribed();
    // Two publishers: the second publication's fan-out overtakes the first's.
    update(FakeWebSocket.last, 6, 'e3');
    expect(got).toEqual([]);
    update(FakeWebSocket.last, 5, 'e3');
    update(FakeWebSocket.last, 7, 'e3');
    update(FakeWebSocket.last, 6, 'e3'); // a copy
    expect(got.map((m) => `${m.epoch}:${m.offset}`)).toEqual(['e3:5', 'e3:6', 'e3:7']);
    client.destroy();
  });
});
