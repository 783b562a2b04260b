import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, WebSocketClient, type Change, type Conflict } from '../src/index.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

function side(userId: string, version: number): Change {
  return {
    id: `pricing:1:${version}`,
    entityType: 'pricing',
    entityId: '1',
    userId,
    operation: 'update',
    path: 'price',
    before: 1,
    after: 2,
    timestamp: new Date().toISOString(),
    resolved: false,
    version,
  };
}

function conflict(id: string): Conflict {
  return { id, localChange: side('u2', 0), remoteChange: side('u3', 1), resolved: false, path: 'price' };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RealtimeSyncManager sync', () => {
  it('follows conflictsNextCursor until every unresolved conflict is loaded', async () => {
    // The server pages conflicts by bytes: three replies of two, two and one.
    const pages: Record<string, { ids: string[]; next?: string }> = {
      '': { ids: ['c1', 'c2'], next: 'k2' },
      k2: { ids: ['c3', 'c4'], next: 'k4' },
      k4: { ids: ['c5'] },
    };
    const server = new FakeServer({
      handler: (sock, f) => {
        if (f.type !== 'sync') return false;
        const p = (f.payload ?? {}) as Record<string, unknown>;
        const page = pages[(p['conflictsCursor'] as string | undefined) ?? ''];
        if (page === undefined) throw new Error(`unexpected cursor ${String(p['conflictsCursor'])}`);
        server.ack(sock, f, {
          strategy: 'manual',
          version: 1,
          snapshot: p['sinceVersion'] === 0,
          document: { price: 2 },
          changes: [],
          hasMore: false,
          nextSinceVersion: 1,
          conflicts: page.ids.map(conflict),
          ...(page.next === undefined ? {} : { conflictsNextCursor: page.next }),
          lock: null,
        });
        return true;
      },
    });
    const client = new WebSocketClient({
      url: 'ws://test.invalid/ws',
      WebSocketImpl: FakeWebSocket,
      heartbeatInterval: 0,
      maxConnectionAge: 0,
      rateLimit: false,
      random: () => 0.5,
    });
    client.connect();
    FakeWebSocket.last.open();
    await vi.advanceTimersByTimeAsync(0);
    const manager = new RealtimeSyncManager({ client, loadHistory: false, autoResolveConflicts: false });
    const state = await manager.startSync('pricing', '1');

    expect(state.conflicts.map((c) => c.id).sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    const sent = server.framesOfType('sync').map((f) => f.payload as Record<string, unknown>);
    expect(sent.map((p) => p['conflictsCursor'])).toEqual([undefined, 'k2', 'k4']);
    // After the snapshot, later pages ask from the version already held.
    expect(sent.map((p) => p['sinceVersion'])).toEqual([0, 1, 1]);
    expect(state.document).toEqual({ price: 2 });
  });
});
