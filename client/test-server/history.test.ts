/// <reference types="node" />
// Channel history through the SDK against the real local server: after a
// reconnect the client resubscribes from its last position and delivers
// what it missed, in offset order, once, before the live updates. Runs on
// the embedded store, and on DynamoDB when DYNAMODB_TEST_ENDPOINT names a
// server (make test runs this suite under scripts/with-moto.sh).
import { cleanup, renderHook } from '@testing-library/react';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebSocketClient, type RecoveryFailed, type WebSocketClient, type WebSocketMessage } from '../src/index.js';
import { useWebSocketChannel } from '../src/react/index.js';
import { startLocalServer, until, type LocalServer } from './server.js';

const RETENTION = 'order-updates=500/10m,inventory-*=5/1m';
const dynamoEndpoint = process.env['DYNAMODB_TEST_ENDPOINT'] ?? '';
let tableSeq = 0;

interface Store {
  name: string;
  /** Environment of a server on this store; a new table when `fresh`. */
  env(fresh: boolean): Record<string, string>;
}

const stores: Store[] = [{ name: 'memory', env: () => ({ HISTORY_RETENTION: RETENTION }) }];
if (dynamoEndpoint !== '') {
  let table = '';
  stores.push({
    name: 'dynamo',
    env: (fresh) => {
      if (fresh || table === '') table = `sdk-history-${Date.now()}-${++tableSeq}`;
      return { HISTORY_RETENTION: RETENTION, TABLE_NAME: table, DYNAMODB_ENDPOINT: dynamoEndpoint, AWS_REGION: 'us-east-1' };
    },
  });
} else {
  console.log('DYNAMODB_TEST_ENDPOINT not set: the DynamoDB runs of the history suite run under make test (scripts/with-moto.sh)');
}

const servers: LocalServer[] = [];
const clients: WebSocketClient[] = [];
const sockets: WebSocket[] = [];

/** A ws WebSocket whose instances the test can close, as a network drop would. */
class TrackedSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols);
    sockets.push(this);
  }
}

async function server(store: Store, fresh = true): Promise<LocalServer> {
  const s = await startLocalServer({ env: store.env(fresh) });
  servers.push(s);
  return s;
}

function client(url: () => string, userId: string): WebSocketClient {
  const c = createWebSocketClient({
    url: () => `${url()}?userId=${userId}`,
    WebSocketImpl: TrackedSocket,
    reconnectInterval: 100,
    maxReconnectInterval: 300,
    rateLimit: false,
  });
  clients.push(c);
  c.connect();
  return c;
}

/** Collects the update events the client delivers on a channel. */
function collect(c: WebSocketClient, channel: string): WebSocketMessage<{ n: string }>[] {
  const got: WebSocketMessage<{ n: string }>[] = [];
  c.onChannel<{ n: string }>(channel, (m) => got.push(m));
  return got;
}

/** Two publishers publishing `each` publications at once; returns their payload tags. */
async function publishConcurrently(a: WebSocketClient, b: WebSocketClient, channel: string, tag: string, each: number): Promise<void> {
  await Promise.all(
    [a, b].map(async (p, i) => {
      for (let k = 0; k < each; k++) await p.publish(channel, { n: `${tag}-${i}-${k}` });
    }),
  );
}

function offsets(ms: readonly WebSocketMessage[]): number[] {
  return ms.map((m) => m.offset ?? -1);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

afterEach(async () => {
  cleanup();
  for (const c of clients.splice(0)) c.destroy();
  sockets.length = 0;
  for (const s of servers.splice(0)) await s.stop();
});

describe.each(stores)('channel history through the SDK ($name)', (store) => {
  it('delivers the 50 publications missed while offline, in offset order, once, then the live ones', async () => {
    const srv = await server(store);
    const url = (): string => srv.wsUrl;
    const ann = client(url, 'ann');
    const bob = client(url, 'bob');
    const sub = client(url, 'carol');
    const got = collect(sub, 'order-updates');
    await sub.subscribe('order-updates');
    await publishConcurrently(ann, bob, 'order-updates', 'before', 2);
    await until(() => got.length === 4, 10_000, 'the first 4 live');

    sub.disconnect();
    await publishConcurrently(ann, bob, 'order-updates', 'away', 25);
    sub.connect();
    await until(() => got.length === 54, 15_000, 'the 50 missed');
    await publishConcurrently(ann, bob, 'order-updates', 'after', 3);
    await until(() => got.length === 60, 10_000, 'the live ones after');
    await new Promise((r) => setTimeout(r, 300)); // nothing more comes
    expect(offsets(got)).toEqual(range(1, 60));
    const tags = got.map((m) => m.payload?.n ?? '');
    expect(new Set(tags).size).toBe(60);
    expect(tags.slice(4, 54).every((t) => t.startsWith('away-'))).toBe(true);
    expect(tags.slice(54).every((t) => t.startsWith('after-'))).toBe(true);
    expect(new Set(got.map((m) => m.epoch)).size).toBe(1);
  });

  it('loses and repeats nothing when the connection drops while publishers keep going', async () => {
    const srv = await server(store);
    const url = (): string => srv.wsUrl;
    const ann = client(url, 'ann');
    const bob = client(url, 'bob');
    const sub = client(url, 'carol');
    const got = collect(sub, 'order-updates');
    let reconnects = 0;
    sub.on('open', (e) => {
      if (e.reconnected) reconnects++;
    });
    await sub.subscribe('order-updates');
    const publishing = publishConcurrently(ann, bob, 'order-updates', 'p', 40);
    for (let drops = 0; drops < 3; drops++) {
      await new Promise((r) => setTimeout(r, 150));
      const mine = sockets.filter((s) => s.url.includes('userId=carol') && s.readyState === WebSocket.OPEN);
      for (const s of mine) s.terminate(); // no close handshake: as a lost network
    }
    await publishing;
    await until(() => got.length >= 80, 15_000, 'every publication');
    await new Promise((r) => setTimeout(r, 300));
    expect(reconnects).toBeGreaterThanOrEqual(1);
    expect(offsets(got)).toEqual(range(1, 80));
  });

  it('reports recovery-failed beyond the retention, and the subscription continues live', async () => {
    const srv = await server(store);
    const url = (): string => srv.wsUrl;
    const pub = client(url, 'pub');
    const sub = client(url, 'carol');
    const failures: RecoveryFailed[] = [];
    sub.on('recovery-failed', (e) => failures.push(e));
    const hook = renderHook(() => useWebSocketChannel<{ n: string }>(sub, 'inventory-updates'));
    await until(() => hook.result.current.subscribed, 10_000, 'subscribed');
    await pub.publish('inventory-updates', { n: 'first' });
    await until(() => hook.result.current.messages.length === 1, 10_000, 'the first update');

    sub.disconnect();
    for (let i = 0; i < 10; i++) await pub.publish('inventory-updates', { n: `missed-${i}` }); // the channel keeps 5
    sub.connect();
    await until(() => failures.length === 1, 10_000, 'recovery-failed');
    expect(failures[0]?.channel).toBe('inventory-updates');
    expect(failures[0]?.since.offset).toBe(1);
    expect(failures[0]?.position.offset).toBe(11);
    await until(() => hook.result.current.recoveryFailed !== null, 10_000, 'the hook reports it');
    expect(hook.result.current.recoveryFailed?.position.offset).toBe(11);

    await pub.publish('inventory-updates', { n: 'live' });
    await until(() => hook.result.current.messages.length === 2, 10_000, 'the live update');
    expect(hook.result.current.messages.map((m) => m.offset)).toEqual([1, 12]);
  });

  it('reports recovery-failed after an epoch change, and the subscription continues live', async () => {
    let srv = await server(store);
    const url = (): string => srv.wsUrl;
    const sub = client(url, 'carol');
    const failures: RecoveryFailed[] = [];
    sub.on('recovery-failed', (e) => failures.push(e));
    const got = collect(sub, 'order-updates');
    await sub.subscribe('order-updates');
    let pub = client(url, 'pub');
    await pub.publish('order-updates', { n: 'old' });
    await until(() => got.length === 1, 10_000, 'the first update');
    const oldEpoch = got[0]?.epoch;

    // The history is lost: a new server with a new store (memory) or table.
    await srv.stop();
    srv = await server(store, true);
    await until(() => failures.length === 1, 15_000, 'recovery-failed');
    expect(failures[0]?.since).toEqual({ offset: 1, epoch: oldEpoch });
    expect(failures[0]?.position.epoch).not.toBe(oldEpoch);

    pub = client(url, 'pub2');
    await pub.publish('order-updates', { n: 'new' });
    await until(() => got.length === 2, 10_000, 'the live update');
    expect(got[1]?.payload?.n).toBe('new');
    // The new stream was empty when the client resubscribed: its position
    // had a stand-in epoch, and the first publication started a real one.
    expect(failures[0]?.position.epoch).toMatch(/^t\d+$/);
    expect(got[1]?.epoch).toMatch(/^[0-9a-f]{16}$/);
    expect(got[1]?.epoch).not.toBe(oldEpoch);
    expect(got[1]?.offset).toBe(1);
  });
});
