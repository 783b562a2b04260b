/// <reference types="node" />
import { act, cleanup, renderHook } from '@testing-library/react';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWebSocketClient, type WebSocketClient } from '../src/index.js';
import {
  useEntitySync,
  useLock,
  useOnlineStatus,
  usePresence,
  useRealtimeSync,
  useRoomPresence,
} from '../src/react/index.js';
import { startLocalServer, until, type LocalServer } from './server.js';

let server: LocalServer;
const clients: WebSocketClient[] = [];

function client(userId: string, username: string): WebSocketClient {
  const c = createWebSocketClient({
    url: `${server.wsUrl}?userId=${userId}&username=${encodeURIComponent(username)}`,
    WebSocketImpl: WebSocket,
    reconnectInterval: 100,
    maxReconnectInterval: 500,
  });
  clients.push(c);
  c.connect();
  return c;
}

beforeAll(async () => {
  server = await startLocalServer();
});
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  cleanup();
  for (const c of clients.splice(0)) c.destroy();
});

describe('useRealtimeSync against the local server', () => {
  it('syncs, pushes with the lock, shows the lock to others, keeps history and comments', async () => {
    const ann = client('ann', 'Ann');
    const bob = client('bob', 'Bob');
    const opts = { entityType: 'order', entityId: 'h-1', autoStart: true } as const;
    const a = renderHook(() => useRealtimeSync({ wsClient: ann, ...opts }));
    const b = renderHook(() => useRealtimeSync({ wsClient: bob, ...opts }));
    await until(() => a.result.current.syncState === 'synced' && b.result.current.syncState === 'synced', 10_000, 'synced');
    expect(a.result.current.strategy).toBe('lock-based');
    expect(a.result.current.version).toBe(0);

    let pushed: Awaited<ReturnType<typeof a.result.current.pushChange>> | undefined;
    await act(async () => {
      pushed = await a.result.current.pushChange({ operation: 'update', path: 'status', before: 'pending', after: 'confirmed' });
    });
    expect(pushed?.version).toBe(1);
    expect(a.result.current.lockedByMe).toBe(true);
    await until(() => b.result.current.version === 1, 10_000, "Bob's version");
    expect(b.result.current.document).toEqual({ status: 'confirmed' });
    expect(b.result.current.isLocked).toBe(true);
    expect(b.result.current.lock?.lockedBy).toBe('ann');
    expect(b.result.current.remoteChanges[0]?.path).toBe('status');

    // Bob cannot take the lock while Ann holds it.
    let lock: unknown = 'unset';
    await act(async () => {
      lock = await b.result.current.acquireLock();
    });
    expect(lock).toBeNull();

    // Comments reach the other side.
    await act(async () => {
      await b.result.current.addComment('Customer asked for express shipping');
    });
    await until(() => a.result.current.comments.length === 1, 10_000, 'comment');

    // A gap: Bob misses changes while not following, then catches up with sync.
    b.result.current.stopSync();
    await act(async () => {
      await a.result.current.pushChange({ operation: 'update', path: 'notes', after: 'n1' });
      await a.result.current.pushChange({ operation: 'update', path: 'notes', after: 'n2' });
    });
    await act(async () => {
      await b.result.current.startSync();
    });
    await until(() => b.result.current.version === 3, 10_000, 'caught up');
    expect(b.result.current.document).toEqual({ status: 'confirmed', notes: 'n2' });

    // Undo the last change; then Ann lets go of the lock.
    await until(() => a.result.current.changeHistory.length === 3, 10_000, 'history');
    await act(async () => {
      await a.result.current.undoChange(a.result.current.changeHistory[0]!.id);
    });
    await until(() => b.result.current.document['notes'] === 'n1', 10_000, 'undo seen by Bob');
    await act(async () => {
      await a.result.current.releaseLock();
    });
    await until(() => !b.result.current.isLocked, 10_000, 'lock released');
    expect(a.result.current.lockedByMe).toBe(false);
  });

  it('an editor that took the lock releases it on unmount while a view of the same order stays', async () => {
    const ann = client('ann', 'Ann');
    const bob = client('bob', 'Bob');
    const order = { entityType: 'order', entityId: 'h-2' } as const;
    const view = renderHook(() => useEntitySync({ wsClient: ann, ...order }));
    const editor = renderHook(() => useRealtimeSync({ wsClient: ann, ...order, autoStart: true }));
    const other = renderHook(() => useRealtimeSync({ wsClient: bob, ...order, autoStart: true }));
    await until(() => editor.result.current.syncState === 'synced' && other.result.current.syncState === 'synced', 10_000, 'synced');
    await act(async () => {
      await editor.result.current.pushChange({ operation: 'update', path: 'status', after: 'confirmed' }); // takes the lock
    });
    await until(() => other.result.current.isLocked, 10_000, "Ann's lock seen by Bob");
    editor.unmount();
    await until(() => !other.result.current.isLocked, 10_000, 'the lock released');
    expect(view.result.current.version).toBe(1);
    let lock: unknown = null;
    await act(async () => {
      lock = await other.result.current.acquireLock();
    });
    expect(lock).toMatchObject({ lockedBy: 'bob' });
  });

  it("an editor's stopSync() releases the lock it took while a view of the same order stays", async () => {
    const ann = client('ann', 'Ann');
    const bob = client('bob', 'Bob');
    const order = { entityType: 'order', entityId: 'h-3' } as const;
    renderHook(() => useEntitySync({ wsClient: ann, ...order }));
    const editor = renderHook(() => useRealtimeSync({ wsClient: ann, ...order, autoStart: true }));
    const other = renderHook(() => useRealtimeSync({ wsClient: bob, ...order, autoStart: true }));
    await until(() => editor.result.current.syncState === 'synced' && other.result.current.syncState === 'synced', 10_000, 'synced');
    await act(async () => {
      await editor.result.current.acquireLock();
    });
    await until(() => other.result.current.isLocked, 10_000, "Ann's lock seen by Bob");
    act(() => editor.result.current.stopSync()); // Ann leaves edit mode; the page stays
    await until(() => !other.result.current.isLocked, 10_000, 'the lock released');
    let lock: unknown = null;
    await act(async () => {
      lock = await other.result.current.acquireLock();
    });
    expect(lock).toMatchObject({ lockedBy: 'bob' });
  });

  it('useEntitySync and useLock', async () => {
    const ann = client('ann', 'Ann');
    const bob = client('bob', 'Bob');
    const a = renderHook(() => useEntitySync({ wsClient: ann, entityType: 'customer', entityId: 'c-9' }));
    const l = renderHook(() => useLock({ wsClient: bob, entityType: 'customer', entityId: 'c-9' }));
    await until(() => a.result.current.syncState === 'synced', 10_000, 'synced');
    await act(async () => {
      await a.result.current.update('contact.phone', '+66 2 123 4567');
    });
    expect(a.result.current.data).toEqual({ contact: { phone: '+66 2 123 4567' } });
    expect(a.result.current.version).toBe(1);
    await act(async () => {
      await l.result.current.acquireLock();
    });
    expect(l.result.current.lockedByMe).toBe(true);
    expect(l.result.current.lock?.fencingToken).toBeGreaterThan(0);
    l.unmount(); // releases the lock
    const other = renderHook(() => useLock({ wsClient: ann, entityType: 'customer', entityId: 'c-9' }));
    await until(() => other.result.current.lock === null, 10_000, 'released');
  });
});

describe('presence hooks against the local server', () => {
  it('usePresence, useRoomPresence with cursors, and useOnlineStatus', async () => {
    const ann = client('ann', 'Ann');
    const bob = client('bob', 'Bob');
    const a = renderHook(() => ({
      presence: usePresence({ wsClient: ann, userId: 'ann', username: 'Ann', initialPage: 'orders' }),
      room: useRoomPresence(ann, 'ann', 'Ann', 'order-77'),
      online: useOnlineStatus(ann),
    }));
    const b = renderHook(() => ({
      presence: usePresence({ wsClient: bob, userId: 'bob', username: 'Bob', initialPage: 'dashboard' }),
      room: useRoomPresence(bob, 'bob', 'Bob', 'order-77'),
    }));
    await until(() => a.result.current.room.userCount === 2 && b.result.current.room.userCount === 2, 10_000, 'two in the room');
    expect(a.result.current.online.isOnline).toBe(true);
    expect(a.result.current.room.usersInRoom.map((u) => u.userId).sort()).toEqual(['ann', 'bob']);
    await until(() => a.result.current.presence.activeUsers.some((u) => u.userId === 'bob'), 10_000, 'Bob active');
    expect(a.result.current.presence.onlineCount).toBeGreaterThanOrEqual(2);
    expect(a.result.current.presence.currentUser?.userId).toBe('ann');

    // Cursors are throttled to one frame per 100 ms: a burst sends few, the last one wins.
    act(() => {
      for (let i = 0; i <= 20; i++) a.result.current.room.updateCursor(i * 10, i * 5);
    });
    await until(() => b.result.current.room.cursors.find((c) => c.userId === 'ann')?.x === 200, 10_000, 'last cursor');

    // Away, then back.
    act(() => a.result.current.presence.setStatus('away'));
    await until(() => b.result.current.room.usersInRoom.find((u) => u.userId === 'ann')?.status === 'away', 10_000, 'Ann away');
    act(() => a.result.current.presence.setStatus('online'));
    await until(() => b.result.current.room.usersInRoom.find((u) => u.userId === 'ann')?.status === 'online', 10_000, 'Ann back');

    // Leaving the room is seen by the other.
    b.unmount();
    await until(() => a.result.current.room.userCount === 1, 10_000, 'Bob left');
  });
});
