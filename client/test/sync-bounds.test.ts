import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, WebSocketClient, type Change } from '../src/index.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

// The optimistic view of changes not yet accepted, and what the sync
// manager does with malformed or endless input from the server.

const flush = (): Promise<void> => vi.advanceTimersByTimeAsync(0).then(() => undefined);

/** A manager following customer:42, whose server syncs `doc` at version 1 and never answers a change. */
async function setup(doc: Record<string, unknown>, strategy = 'operational-transform') {
  const server = new FakeServer({
    handler: (sock, f) => {
      const p = (f.payload ?? {}) as Record<string, unknown>;
      if (f.type === 'sync') {
        server.ack(sock, f, {
          strategy,
          version: 1,
          snapshot: p['sinceVersion'] === 0,
          document: doc,
          changes: [],
          hasMore: false,
          nextSinceVersion: 1,
          conflicts: [],
          lock: null,
        });
        return true;
      }
      return f.type === 'change'; // held: the change stays pending
    },
  });
  const client = new WebSocketClient({
    url: 'ws://t.invalid/ws',
    WebSocketImpl: FakeWebSocket,
    heartbeatInterval: 0,
    maxConnectionAge: 0,
    rateLimit: false,
    random: () => 0.5,
  });
  client.connect();
  const sock = FakeWebSocket.last;
  sock.open();
  await flush();
  const manager = new RealtimeSyncManager({ client, loadHistory: false });
  await manager.startSync('customer', '42');
  return { server, sock, manager };
}

function remote(version: unknown, path: string, after: unknown): Change {
  return {
    id: `customer:42:${String(version)}`,
    entityType: 'customer',
    entityId: '42',
    userId: 'u2',
    operation: 'update',
    path,
    after,
    timestamp: new Date().toISOString(),
    resolved: true,
    version,
  } as Change;
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the document while changes are pending', () => {
  it('shows a pending text edit, increment and move worked out locally', async () => {
    const s = await setup({ notes: 'Hello world', stock: 10, tags: ['a', 'b'] });
    const push = (c: Record<string, unknown>): void => {
      void s.manager.pushChange({ entityType: 'customer', entityId: '42', ...c } as never).catch(() => {});
    };
    push({ operation: 'text', path: 'notes', text: [{ retain: 6 }, { insert: 'big ' }] });
    push({ operation: 'increment', path: 'stock', delta: 2 });
    push({ operation: 'move', path: 'tags', from: 0, to: 1 });
    await flush();
    const st = s.manager.getState('customer', '42');
    expect(st.localChanges).toHaveLength(3);
    expect(st.document).toEqual({ notes: 'Hello big world', stock: 12, tags: ['b', 'a'] });
  });

  it('keeps the server value when a pending change does not apply to it', async () => {
    const s = await setup({ notes: 'Hi' });
    void s.manager
      .pushChange({ entityType: 'customer', entityId: '42', operation: 'text', path: 'notes', text: [{ retain: 5 }, { insert: '!' }] })
      .catch(() => {});
    await flush();
    expect(s.manager.getState('customer', '42').document['notes']).toBe('Hi');
  });
});

describe('malformed and endless server input', () => {
  it('ignores a change whose version is not a whole number, and still syncs on a gap after it', async () => {
    const s = await setup({ a: 1 });
    const syncs = s.server.framesOfType('sync').length;
    for (const v of ['2', 2.5, 1e400, -3, null]) {
      s.sock.receive({ type: 'change', channel: 'customer:42', payload: remote(v, 'a', 'bad') });
    }
    await flush();
    let st = s.manager.getState('customer', '42');
    expect(st.version).toBe(1);
    expect(st.document['a']).toBe(1);
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: remote(9, 'b', 'gap') });
    await flush();
    st = s.manager.getState('customer', '42');
    expect(st.document['b']).toBeUndefined();
    expect(s.server.framesOfType('sync').length).toBeGreaterThan(syncs);
  });

  it('keeps the latest 100 resolved conflicts, and every unresolved one', async () => {
    const s = await setup({ a: 1 }, 'manual');
    const conflict = (id: string, resolved: boolean): Record<string, unknown> => ({
      id,
      entityType: 'customer',
      entityId: '42',
      path: 'a',
      resolved,
      localChange: remote(2, 'a', 2),
      remoteChange: remote(2, 'a', 3),
    });
    s.sock.receive({ type: 'conflict', channel: 'customer:42', payload: conflict('open-1', false) });
    for (let i = 0; i < 3000; i++) {
      s.sock.receive({ type: 'conflict', channel: 'customer:42', payload: conflict(`cf-${i}`, true) });
    }
    await flush();
    const ids = s.manager.getState('customer', '42').conflicts.map((c) => c.id);
    expect(ids).toHaveLength(101);
    expect(ids[0]).toBe('open-1');
    expect(ids).toContain('cf-2999');
    expect(ids).not.toContain('cf-2899');
  });
});
