// @vitest-environment happy-dom
import { act, cleanup, render, renderHook } from '@testing-library/react';
import { StrictMode, createElement, useEffect } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PresenceManager, RealtimeSyncManager, WebSocketClient, getRealtimeSyncManager, type Change, type Conflict, type Lock } from '../src/index.js';
import { useEntitySync, useLock, useRealtimeSync, useWebSocket, useWebSocketChannel } from '../src/react/index.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { idleStates } from './sync-harness.js';

// The sync hooks against a fake server: requests the hooks send, and what
// an unmount leaves.

async function settle(ms = 0): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

function change(version: number, path: string, after: unknown, userId = 'u2'): Change {
  return { id: `order:1:${version}`, entityType: 'order', entityId: '1', userId, operation: 'update', path, before: null, after,
    timestamp: new Date().toISOString(), resolved: true, version };
}

const lock: Lock = { entityType: 'order', entityId: '1', lockedBy: 'u1', lockedAt: new Date().toISOString(),
  expiresAt: new Date(Date.now() + 30_000).toISOString(), fencingToken: 3 };

/**
 * A connected client whose server syncs order 1 with `conflicts`, and answers
 * locks and (unless held) conflict.resolve. With `heldAcquire`, lock.acquire
 * stays in flight and its frame is kept there. With `resolvedAs`,
 * conflict.resolve is refused CONFLICT_RESOLVED with that conflict. With
 * `refuse`, the first `times` (default all) conflict.resolve requests are
 * refused with its code.
 */
async function setup(opts: {
  strategy?: string;
  conflicts?: Conflict[];
  holdResolve?: boolean;
  heldAcquire?: { frame: SentFrame | null };
  resolvedAs?: Conflict;
  refuse?: { code: string; retryable?: boolean; times?: number };
  newGrants?: boolean;
} = {}) {
  // The lock this user holds, as a sync reports it. With `newGrants`, each
  // lock.acquire grants a new fencing token (3, then 4, ...).
  let held: Lock | null = null;
  let grants = 0;
  const server: FakeServer = new FakeServer({
    handler: (sock, f) => {
      const p = (f.payload ?? {}) as Record<string, unknown>;
      switch (f.type) {
        case 'sync':
          server.ack(sock, f, { strategy: opts.strategy ?? 'lock-based', version: 1, snapshot: p['sinceVersion'] === 0, document: {},
            changes: [], hasMore: false, nextSinceVersion: 1, conflicts: opts.conflicts ?? [], lock: held });
          return true;
        case 'history':
          server.ack(sock, f, { version: 1, changes: [] });
          return true;
        case 'comment.list':
          server.ack(sock, f, { comments: [] });
          return true;
        case 'lock.acquire':
          if (opts.heldAcquire !== undefined) {
            opts.heldAcquire.frame = f;
            return true;
          }
          held = opts.newGrants === true ? { ...lock, fencingToken: (lock.fencingToken ?? 0) + grants++ } : lock;
          server.ack(sock, f, { lock: held });
          return true;
        case 'lock.renew':
          server.ack(sock, f, { lock: held ?? lock });
          return true;
        case 'lock.release':
          held = null;
          server.ack(sock, f, { lock });
          return true;
        case 'conflict.resolve':
          if (opts.refuse !== undefined && server.framesOfType('conflict.resolve').length <= (opts.refuse.times ?? Infinity)) {
            server.error(sock, f, opts.refuse.code, { retryable: opts.refuse.retryable ?? false });
            return true;
          }
          if (opts.resolvedAs !== undefined) {
            server.error(sock, f, 'CONFLICT_RESOLVED', { details: { conflict: opts.resolvedAs } });
            return true;
          }
          return opts.holdResolve === true; // held: in flight
      }
      return false;
    },
  });
  const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
    maxConnectionAge: 0, rateLimit: false, random: () => 0.5 });
  client.connect();
  const sock = FakeWebSocket.last;
  sock.open();
  await settle();
  return { server, client, sock };
}

/** Takes the lock with the hook's acquireLock, then unmounts the hook. */
async function lockThenUnmount(h: { result: { current: { acquireLock: () => Promise<Lock | null> } }; unmount: () => void }) {
  await settle();
  await act(async () => {
    await h.result.current.acquireLock();
  });
  h.unmount();
  await settle();
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

describe('useRealtimeSync', () => {
  it('asks once to resolve a conflict, however often the entity changes while the request is in flight', async () => {
    const conflict: Conflict = { id: 'c1', localChange: change(0, 'status', 'mine', 'u1'), remoteChange: change(1, 'status', 'theirs'),
      resolved: false, entityType: 'order', entityId: '1', path: 'status' };
    const { server, client, sock } = await setup({ strategy: 'last-write-wins', conflicts: [conflict], holdResolve: true });
    renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, autoResolveConflicts: 'local' }));
    await settle();
    expect(server.framesOfType('conflict.resolve')).toHaveLength(1);
    for (let v = 2; v <= 4; v++) {
      act(() => sock.receive({ type: 'change', channel: 'order:1', payload: change(v, 'notes', v) }));
      await settle();
    }
    expect(server.framesOfType('conflict.resolve')).toHaveLength(1);
  });

  it('autoResolveConflicts takes CONFLICT_RESOLVED as settled and does not resend at every state change', async () => {
    const conflict: Conflict = { id: 'c1', localChange: change(0, 'status', 'mine', 'u1'), remoteChange: change(1, 'status', 'theirs'),
      resolved: false, entityType: 'order', entityId: '1', path: 'status' };
    // Settled first elsewhere (this user's other tab, or the other author).
    const { server, client, sock } = await setup({ strategy: 'last-write-wins', conflicts: [conflict],
      resolvedAs: { ...conflict, resolved: true, resolution: 'remote' } });
    const h = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, autoResolveConflicts: 'local' }));
    await settle();
    for (let v = 2; v <= 6; v++) {
      act(() => sock.receive({ type: 'change', channel: 'order:1', payload: change(v, 'notes', v) }));
      await settle();
    }
    expect(server.framesOfType('conflict.resolve')).toHaveLength(1);
    expect(h.result.current.conflicts[0]).toMatchObject({ id: 'c1', resolved: true });
  });

  it('autoResolveConflicts does not ask again at every change after a refusal that would come again, and shows it in error', async () => {
    const conflict: Conflict = { id: 'c1', localChange: change(0, 'status', 'mine', 'u1'), remoteChange: change(1, 'status', 'theirs'),
      resolved: false, entityType: 'order', entityId: '1', path: 'status' };
    const { server, client, sock } = await setup({ strategy: 'last-write-wins', conflicts: [conflict], refuse: { code: 'FORBIDDEN' } });
    const h = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, autoResolveConflicts: 'local' }));
    await settle();
    for (let v = 2; v <= 21; v++) {
      act(() => sock.receive({ type: 'change', channel: 'order:1', payload: change(v, 'notes', v) }));
      await settle(60_000);
    }
    expect(server.framesOfType('conflict.resolve')).toHaveLength(1);
    expect(h.result.current.error).toMatchObject({ code: 'FORBIDDEN' });
    expect(h.result.current.conflicts[0]).toMatchObject({ id: 'c1', resolved: false });
  });

  it('autoResolveConflicts asks again after a temporary failure, with backoff, not at every change', async () => {
    const conflict: Conflict = { id: 'c1', localChange: change(0, 'status', 'mine', 'u1'), remoteChange: change(1, 'status', 'theirs'),
      resolved: false, entityType: 'order', entityId: '1', path: 'status' };
    const { server, client, sock } = await setup({ strategy: 'last-write-wins', conflicts: [conflict],
      refuse: { code: 'UNAVAILABLE', retryable: true, times: 2 }, holdResolve: true });
    const h = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, autoResolveConflicts: 'local' }));
    await settle();
    expect(server.framesOfType('conflict.resolve')).toHaveLength(1);
    expect(h.result.current.error).toMatchObject({ code: 'UNAVAILABLE' });
    for (let v = 2; v <= 6; v++) {
      act(() => sock.receive({ type: 'change', channel: 'order:1', payload: change(v, 'notes', v) }));
      await settle();
    }
    expect(server.framesOfType('conflict.resolve')).toHaveLength(1);
    await settle(1000); // the first backoff: at most 1 s
    expect(server.framesOfType('conflict.resolve')).toHaveLength(2);
    await settle(1000); // the second waits longer (1 to 2 s)
    await settle(1000);
    expect(server.framesOfType('conflict.resolve')).toHaveLength(3); // held: in flight
    for (let v = 7; v <= 9; v++) {
      act(() => sock.receive({ type: 'change', channel: 'order:1', payload: change(v, 'notes', v) }));
      await settle();
    }
    expect(server.framesOfType('conflict.resolve')).toHaveLength(3);
  });

  it('autoResolveConflicts: a temporary failure answered after unmount starts no backoff timer', async () => {
    const conflict: Conflict = { id: 'c1', localChange: change(0, 'status', 'mine', 'u1'), remoteChange: change(1, 'status', 'theirs'),
      resolved: false, entityType: 'order', entityId: '1', path: 'status' };
    const { server, client, sock } = await setup({ strategy: 'last-write-wins', conflicts: [conflict], holdResolve: true });
    const h = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, autoResolveConflicts: 'local' }));
    await settle();
    const [frame] = server.framesOfType('conflict.resolve');
    expect(frame).toBeDefined();
    h.unmount();
    await settle();
    const started = vi.spyOn(globalThis, 'setTimeout');
    server.error(sock, frame!, 'UNAVAILABLE', { retryable: true });
    await settle();
    // The hook's backoff (1 s doubling up to 30 s) would call its state setter when it ends.
    expect(started).not.toHaveBeenCalled();
    await settle(60_000);
    expect(server.framesOfType('conflict.resolve')).toHaveLength(1);
  });

  it('autoResolveConflicts under StrictMode still asks again after a temporary failure', async () => {
    const conflict: Conflict = { id: 'c1', localChange: change(0, 'status', 'mine', 'u1'), remoteChange: change(1, 'status', 'theirs'),
      resolved: false, entityType: 'order', entityId: '1', path: 'status' };
    const { server, client, sock } = await setup({ strategy: 'last-write-wins', conflicts: [conflict], holdResolve: true });
    // Followed already, so the conflict is known at mount. Effects run, are
    // cleaned up and run again on mount: the request sent by the first run
    // is answered after that.
    await getRealtimeSyncManager(client).startSync('order', '1');
    const h = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, autoResolveConflicts: 'local' }),
      { wrapper: StrictMode });
    await settle();
    const [frame] = server.framesOfType('conflict.resolve');
    expect(frame).toBeDefined();
    server.error(sock, frame!, 'UNAVAILABLE', { retryable: true });
    await settle();
    expect(h.result.current.error).toMatchObject({ code: 'UNAVAILABLE' });
    await settle(1000); // the first backoff: at most 1 s
    expect(server.framesOfType('conflict.resolve')).toHaveLength(2);
  });
});

/**
 * A last-write-wins order 1 whose server holds the change frames while
 * `hold.on` and answers the others (and, later, the held ones) with the
 * next version; the sync answers the changes since `sinceVersion`.
 */
async function setupExample1() {
  const hold = { on: false };
  const held: { sock: FakeWebSocket; frame: SentFrame }[] = [];
  const log: Change[] = [];
  const server: FakeServer = new FakeServer({
    handler: (sock, f) => {
      const p = (f.payload ?? {}) as Record<string, unknown>;
      switch (f.type) {
        case 'sync': {
          const since = Number(p['sinceVersion'] ?? 0);
          server.ack(sock, f, { strategy: 'last-write-wins', version: log.length, snapshot: false, document: null,
            changes: log.filter((c) => c.version > since), hasMore: false, nextSinceVersion: log.length, conflicts: [], lock: null });
          return true;
        }
        case 'history':
          server.ack(sock, f, { version: log.length, changes: [] });
          return true;
        case 'comment.list':
          server.ack(sock, f, { comments: [] });
          return true;
        case 'change':
          if (hold.on) held.push({ sock, frame: f });
          else accept(sock, f);
          return true;
      }
      return false;
    },
  });
  const accept = (sock: FakeWebSocket, f: SentFrame): void => {
    const p = (f.payload ?? {}) as Record<string, unknown>;
    const done = log.find((c) => c.messageId === f.messageId);
    const stored = done ?? { ...change(log.length + 1, String(p['path']), p['after'], 'u1'), messageId: f.messageId };
    if (done === undefined) log.push(stored);
    server.ack(sock, f, { entityType: 'order', entityId: '1', outcome: 'applied', applied: true, version: stored.version, change: stored });
  };
  const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0,
    maxConnectionAge: 0, rateLimit: false, random: () => 0.5 });
  client.connect();
  FakeWebSocket.last.open();
  await settle();
  // The seed's Example 1, reduced to its sync part: startSync() when
  // connected, stopSync() in the cleanup, so on every ws.connected change.
  const h = renderHook(() => {
    const ws = useWebSocket(client);
    const sync = useRealtimeSync({ wsClient: ws, entityType: 'order', entityId: '1' });
    useEffect(() => {
      if (ws.connected) void sync.startSync();
      return () => sync.stopSync();
    }, [ws.connected]); // eslint-disable-line react-hooks/exhaustive-deps
    return sync;
  });
  await settle();
  const drop = async (): Promise<void> => {
    act(() => FakeWebSocket.last.serverClose(1006));
    await settle();
  };
  const reconnect = async (): Promise<void> => {
    const before = FakeWebSocket.instances.length;
    for (let i = 0; i < 120 && FakeWebSocket.instances.length === before; i++) await settle(500);
    expect(FakeWebSocket.instances.length).toBe(before + 1);
    act(() => FakeWebSocket.last.open());
    await settle();
  };
  return { server, client, h, hold, held, log, drop, reconnect, accept };
}

const outcomeOf = (p: Promise<Change>): Promise<string> => p.then((c) => `v${c.version}`, (e: { code?: string }) => e.code ?? 'error');

describe("useRealtimeSync with the seed's Example 1 (startSync/stopSync on ws.connected)", () => {
  it('keeps the changes waiting at a connection drop and delivers them after the reconnect', async () => {
    const { h, hold, log, drop, reconnect } = await setupExample1();
    expect(h.result.current.syncState).toBe('synced');
    hold.on = true;
    const first = outcomeOf(h.result.current.pushChange({ operation: 'update', path: 'notes', after: 'a' }));
    const second = outcomeOf(h.result.current.pushChange({ operation: 'update', path: 'status', after: 'shipped' }));
    await settle();
    await drop();
    hold.on = false;
    await reconnect();
    expect(await first).toBe('v1');
    expect(await second).toBe('v2');
    expect(log.map((c) => c.after)).toEqual(['a', 'shipped']);
    expect(h.result.current.localChanges).toHaveLength(0);
    expect(h.result.current.document).toEqual({ notes: 'a', status: 'shipped' });
    expect(h.result.current.manager.entities).toEqual(['order:1']);
  });

  it('queues an edit made while the connection is down and delivers it after the reconnect', async () => {
    const { h, log, drop, reconnect } = await setupExample1();
    await drop();
    expect(h.result.current.syncState).toBe('offline');
    const typed = outcomeOf(h.result.current.pushChange({ operation: 'update', path: 'notes', after: 'typed offline' }));
    await settle();
    expect(h.result.current.localChanges).toHaveLength(1);
    await reconnect();
    expect(await typed).toBe('v1');
    expect(log.map((c) => c.after)).toEqual(['typed offline']);
    expect(h.result.current.syncState).toBe('synced');
  });

  it('keeps following across a reconnect with nothing waiting, without starting over', async () => {
    const { server, h, drop, reconnect } = await setupExample1();
    await drop();
    await reconnect();
    expect(h.result.current.syncState).toBe('synced');
    expect(h.result.current.manager.entities).toEqual(['order:1']);
    // One subscribe for each connection (the client's resubscribe), and
    // the history and comments loaded once, when following began.
    expect(server.framesOfType('subscribe')).toHaveLength(2);
    expect(server.framesOfType('history')).toHaveLength(1);
    expect(server.framesOfType('comment.list')).toHaveLength(1);
  });

  it('stopSync() with the connection up and nothing waiting stops following at once', async () => {
    const { client } = await setupExample1();
    const h = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '2' }));
    await act(async () => {
      await h.result.current.startSync();
    });
    act(() => h.result.current.stopSync());
    expect(h.result.current.manager.entities).toEqual(['order:1']);
    await expect(h.result.current.pushChange({ operation: 'update', path: 'notes', after: 'x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('stopSync() with a change in flight stops following once it is delivered, and a startSync() before that keeps following', async () => {
    const { client, h: example, hold, held, accept } = await setupExample1();
    example.unmount();
    const h = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1' }));
    await act(async () => {
      await h.result.current.startSync();
    });
    const m = h.result.current.manager;
    const deliverHeld = async (): Promise<void> => {
      act(() => {
        const f = held.shift()!;
        accept(f.sock, f.frame);
      });
      await settle();
    };
    hold.on = true;

    // A stop asked while a change waits, then taken back by startSync().
    const first = outcomeOf(h.result.current.pushChange({ operation: 'update', path: 'notes', after: 'a' }));
    await settle();
    act(() => h.result.current.stopSync());
    await act(async () => {
      await h.result.current.startSync();
    });
    await deliverHeld();
    expect(await first).toBe('v1');
    expect(m.entities).toEqual(['order:1']);

    // A stop asked while a change waits ends once it is delivered.
    const second = outcomeOf(h.result.current.pushChange({ operation: 'update', path: 'notes', after: 'b' }));
    await settle();
    act(() => h.result.current.stopSync());
    await settle();
    expect(m.entities).toEqual(['order:1']);
    await deliverHeld();
    expect(await second).toBe('v2');
    expect(m.entities).toEqual([]);
    expect(h.result.current.syncState).toBe('idle');
  });
});

describe('useEntitySync', () => {
  it('browsing through many entities leaves no idle state behind for those it left', async () => {
    const { client } = await setup();
    const h = renderHook((p: { id: string }) => useEntitySync({ wsClient: client, entityType: 'order', entityId: p.id }),
      { initialProps: { id: 'o0' } });
    await settle();
    for (let i = 1; i <= 50; i++) {
      h.rerender({ id: `o${i}` });
      await settle();
    }
    const m = getRealtimeSyncManager(client);
    expect(m.entities).toEqual(['order:o50']);
    expect(idleStates(m)).toBeLessThanOrEqual(1);
    h.unmount();
    await settle();
    expect(m.entities).toEqual([]);
    expect(idleStates(m)).toBeLessThanOrEqual(1);
  });
});

describe('useLock', () => {
  const syncHook = (client: WebSocketClient) =>
    renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, userId: 'u1' }));
  it.each([
    ['useLock unmounted', (client: WebSocketClient) => renderHook(() => useLock({ wsClient: client, entityType: 'order', entityId: '1' })), false],
    ['useRealtimeSync unmounted', syncHook, false],
    ["useRealtimeSync's stopSync()", syncHook, true],
  ])('%s while acquireLock is in flight releases the lock granted afterwards even when another hook follows the entity', async (_name, mount, stop) => {
    const held = { frame: null as SentFrame | null };
    const { server, client, sock } = await setup({ heldAcquire: held });
    // The page follows the order; an edit dialog has the lock button.
    renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, userId: 'u1' }));
    const dialog = mount(client);
    await settle();
    let acquired: Promise<Lock | null> | undefined;
    act(() => {
      acquired = dialog.result.current.acquireLock();
    });
    await settle();
    expect(held.frame).not.toBeNull();
    // The dialog closes (or leaves edit mode) before the lock is granted.
    if (stop) act(() => (dialog.result.current as ReturnType<typeof useRealtimeSync>).stopSync());
    else dialog.unmount();
    await settle();
    server.ack(sock, held.frame as SentFrame, { lock }); // granted after that
    await settle();
    // useLock's contract, and useRealtimeSync's: "null ... when the hook unmounted (or ... its `stopSync()` let go) before the lock was granted (it is then released)".
    await expect(acquired).resolves.toBeNull();
    await settle(60_000);
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    expect(server.framesOfType('lock.renew')).toHaveLength(0);
  });

  it('shows a lock of this user that expired as expired, until it is taken again', async () => {
    const { client, sock } = await setup();
    const banner = renderHook(() => useLock({ wsClient: client, entityType: 'order', entityId: '1' }));
    const editor = syncHook(client);
    await settle();
    await act(async () => {
      await banner.result.current.acquireLock();
    });
    act(() => sock.receive({ type: 'lock', channel: 'order:1', payload: { action: 'expired', entityType: 'order', entityId: '1', lock } }));
    await settle();
    for (const h of [banner, editor]) expect(h.result.current).toMatchObject({ lockedByMe: false, lock: null, expiredLock: { fencingToken: 3 } });
    await act(async () => {
      await editor.result.current.acquireLock();
    });
    for (const h of [banner, editor]) expect(h.result.current).toMatchObject({ lockedByMe: true, expiredLock: null });
  });

  it('on unmount releases only a lock it took, not one another hook of the entity edits with', async () => {
    const { server, client } = await setup();
    const editor = renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true }));
    const banner = renderHook(() => useLock({ wsClient: client, entityType: 'order', entityId: '1' }));
    await settle();
    await act(async () => {
      await editor.result.current.acquireLock();
    });
    banner.unmount();
    await settle();
    expect(editor.result.current.lockedByMe).toBe(true);
    expect(server.framesOfType('lock.release')).toHaveLength(0);

    // A useLock that took the lock itself releases it when it goes.
    await lockThenUnmount(renderHook(() => useLock({ wsClient: client, entityType: 'order', entityId: '1' })));
    expect(server.framesOfType('lock.release')).toHaveLength(1);
  });

  it('as the last follower of the entity sends one lock.release on unmount', async () => {
    const { server, client } = await setup();
    await lockThenUnmount(renderHook(() => useLock({ wsClient: client, entityType: 'order', entityId: '1' })));
    await settle(60_000);
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    expect(server.framesOfType('lock.renew')).toHaveLength(0);
    expect(getRealtimeSyncManager(client).entities).toEqual([]);
  });

  it('unmounted while acquireLock is in flight releases the lock granted afterwards, not holding it until its TTL', async () => {
    const heldAcquire = { frame: null as SentFrame | null };
    const { server, client, sock } = await setup({ heldAcquire });
    const h = renderHook(() => useLock({ wsClient: client, entityType: 'order', entityId: '1' }));
    await settle();
    let acquired: Promise<Lock | null> | undefined;
    act(() => {
      acquired = h.result.current.acquireLock();
    });
    await settle();
    expect(heldAcquire.frame).not.toBeNull();
    h.unmount();
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(0);
    server.ack(sock, heldAcquire.frame as SentFrame, { lock }); // granted after the unmount
    await settle();
    await expect(acquired).resolves.toBeNull();
    await settle(60_000); // not renewed either
    expect(server.framesOfType('lock.acquire')).toHaveLength(1);
    expect(server.framesOfType('lock.release')).toHaveLength(1);
  });
});

describe('useRealtimeSync and the lock it took', () => {
  // A read-only view follows order 1 beside the editor in each test: the
  // editor's unmount is not the entity's last stopSync.
  const editorOf = (client: WebSocketClient, releaseOnUnmount?: boolean) =>
    renderHook(() => useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, userId: 'u1',
      ...(releaseOnUnmount === undefined ? {} : { releaseOnUnmount }) }));

  /** A view of order 1, and an editor of it that took the lock with acquireLock. */
  const lockedEditor = async (client: WebSocketClient, releaseOnUnmount?: boolean) => {
    renderHook(() => useEntitySync({ wsClient: client, entityType: 'order', entityId: '1' }));
    const editor = editorOf(client, releaseOnUnmount);
    await settle();
    await act(async () => {
      await editor.result.current.acquireLock();
    });
    return editor;
  };

  it('releases a lock taken with acquireLock on unmount while another hook follows the entity', async () => {
    const { server, client } = await setup();
    renderHook(() => useEntitySync({ wsClient: client, entityType: 'order', entityId: '1' }));
    await lockThenUnmount(editorOf(client)); // the user closes the editor
    await settle(120_000);
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    expect(server.framesOfType('lock.renew')).toHaveLength(0);
    expect(getRealtimeSyncManager(client).getState('order', '1').lockedByMe).toBe(false);
  });

  it('releases the lock it took when it moves to another entity', async () => {
    const { server, client } = await setup();
    renderHook(() => useEntitySync({ wsClient: client, entityType: 'order', entityId: '1' }));
    const editor = renderHook((p: { id: string }) =>
      useRealtimeSync({ wsClient: client, entityType: 'order', entityId: p.id, autoStart: true, userId: 'u1' }), { initialProps: { id: '1' } });
    await settle();
    await act(async () => {
      await editor.result.current.acquireLock();
    });
    editor.rerender({ id: '2' });
    await settle();
    expect(server.framesOfType('lock.release').map((f) => f.payload)).toEqual([{ entityType: 'order', entityId: '1' }]);
  });

  it.each([
    ['its lock-based change took', false, 'unmount'],
    // Example 1: the lock first, then the change.
    ['taken with acquireLock before its change', true, 'unmount'],
    // The user leaves edit mode; the page stays.
    ['its lock-based change took', false, 'stopSync()'],
    ['taken with acquireLock before its change', true, 'stopSync()'],
  ] as const)('releases a lock %s only once the change in flight at %s is answered', async (_name, lockFirst, letGo) => {
    const { server, client, sock } = await setup();
    renderHook(() => useEntitySync({ wsClient: client, entityType: 'order', entityId: '1' }));
    const editor = editorOf(client);
    await settle();
    if (lockFirst) {
      await act(async () => {
        await editor.result.current.acquireLock();
      });
    }
    let sent: Promise<Change> | undefined;
    act(() => {
      sent = editor.result.current.pushChange({ operation: 'update', path: 'status', after: 'won' });
    });
    await settle();
    expect(server.framesOfType('lock.acquire')).toHaveLength(1);
    const frame = server.framesOfType('change')[0] as SentFrame;
    expect(frame).toBeDefined();
    if (letGo === 'unmount') editor.unmount();
    else act(() => editor.result.current.stopSync());
    await settle();
    // Released only after the change: released before, the change would meet
    // a stale fencing token and take the lock again to resend.
    expect(server.framesOfType('lock.release')).toHaveLength(0);
    const applied = { ...change(2, 'status', 'won', 'u1'), messageId: frame.messageId };
    server.ack(sock, frame, { entityType: 'order', entityId: '1', outcome: 'applied', applied: true, version: 2, change: applied });
    await settle();
    await expect(sent).resolves.toMatchObject({ version: 2 });
    await settle(60_000);
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    expect(server.framesOfType('lock.renew')).toHaveLength(0);
    expect(getRealtimeSyncManager(client).getState('order', '1').lockedByMe).toBe(false);
  });

  it('stopSync() releases a lock taken with acquireLock while another hook follows the entity, and a startSync() after it takes none', async () => {
    const { server, client } = await setup();
    const editor = await lockedEditor(client);
    act(() => editor.result.current.stopSync()); // the user leaves edit mode; the page stays
    await settle(60_000);
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    expect(server.framesOfType('lock.renew')).toHaveLength(0);
    expect(editor.result.current.lockedByMe).toBe(false);

    // Following again, the hook holds no lock of the earlier run: a lock
    // taken now is released by the next stopSync() as well, once.
    await act(async () => {
      await editor.result.current.startSync();
    });
    await act(async () => {
      await editor.result.current.acquireLock();
    });
    expect(editor.result.current.lockedByMe).toBe(true);
    act(() => editor.result.current.stopSync());
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(2);
  });

  it('a write of the run stopSync() ended, answered after a startSync() and acquireLock(), does not release the lock taken since', async () => {
    const { server, client, sock } = await setup({ newGrants: true });
    const editor = editorOf(client); // the entity's only follower
    await settle();
    await act(async () => {
      await editor.result.current.acquireLock(); // fencing token 3
    });
    act(() => {
      void editor.result.current.undoChange('order:1:1').catch(() => {});
    });
    await settle();
    const undo = server.framesOfType('undo')[0] as SentFrame;
    expect(undo).toBeDefined(); // in flight
    act(() => editor.result.current.stopSync()); // the manager lets go of the entity and releases token 3
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    await act(async () => {
      void editor.result.current.startSync();
      await editor.result.current.acquireLock(); // fencing token 4
    });
    expect(editor.result.current.lock?.fencingToken).toBe(4);
    server.ack(sock, undo, { entityType: 'order', entityId: '1', outcome: 'applied', applied: true, version: 2 });
    await settle(60_000);
    // The earlier run's lock (token 3) is gone: the lock held now is the new run's.
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    expect(editor.result.current.lockedByMe).toBe(true);
    expect(editor.result.current.lock?.fencingToken).toBe(4);
  });

  it("Example 1's cleanup, stopSync() then releaseLock(), sends one lock.release", async () => {
    const { server, client } = await setup();
    const editor = await lockedEditor(client);
    act(() => {
      editor.result.current.stopSync();
      void editor.result.current.releaseLock();
    });
    await settle(60_000);
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    expect(editor.result.current.lockedByMe).toBe(false);
  });

  it("Example 1's cleanup sends one lock.release when its hook is the entity's last follower too", async () => {
    const { server, client } = await setup();
    const editor = editorOf(client);
    await settle();
    await act(async () => {
      await editor.result.current.acquireLock();
    });
    act(() => {
      editor.result.current.stopSync(); // the manager lets go of the entity and releases the lock
      void editor.result.current.releaseLock();
    });
    await settle(60_000);
    expect(server.framesOfType('lock.release')).toHaveLength(1);
    expect(editor.result.current.lockedByMe).toBe(false);
  });

  it('stopSync() keeps the lock with releaseOnUnmount false', async () => {
    const { server, client } = await setup();
    const editor = await lockedEditor(client, false);
    act(() => editor.result.current.stopSync());
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(0);
    expect(editor.result.current.lockedByMe).toBe(true);
  });

  it('does not take as its own a lock that useLock took while its change was in flight', async () => {
    const { server, client, sock } = await setup({ strategy: 'last-write-wins' });
    const banner = renderHook(() => useLock({ wsClient: client, entityType: 'order', entityId: '1' }));
    const editor = editorOf(client);
    await settle();
    let sent: Promise<Change> | undefined;
    act(() => {
      sent = editor.result.current.pushChange({ operation: 'update', path: 'status', after: 'won' });
    });
    await settle();
    const frame = server.framesOfType('change')[0] as SentFrame;
    expect(frame).toBeDefined();
    await act(async () => {
      await banner.result.current.acquireLock(); // the lock button, while the change is out
    });
    const applied = { ...change(2, 'status', 'won', 'u1'), messageId: frame.messageId };
    server.ack(sock, frame, { entityType: 'order', entityId: '1', outcome: 'applied', applied: true, version: 2, change: applied });
    await settle();
    await expect(sent).resolves.toMatchObject({ version: 2 });
    editor.unmount();
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(0);
    expect(banner.result.current.lockedByMe).toBe(true);
  });

  it('keeps the lock with releaseOnUnmount false, and does not release a lock another hook took', async () => {
    const { server, client } = await setup();
    renderHook(() => useEntitySync({ wsClient: client, entityType: 'order', entityId: '1' }));
    await lockThenUnmount(editorOf(client, false));
    expect(server.framesOfType('lock.release')).toHaveLength(0);

    // The lock is this user's already: an editor that writes with it did not take it.
    const editor = editorOf(client);
    await settle();
    act(() => {
      void editor.result.current.pushChange({ operation: 'update', path: 'status', after: 'won' }).catch(() => {});
    });
    await settle();
    expect(server.framesOfType('change')).toHaveLength(1);
    editor.unmount();
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(0);
    expect(getRealtimeSyncManager(client).getState('order', '1').lockedByMe).toBe(true);
  });
});

describe('acquireLock before the entity is followed', () => {
  // React runs a child's effects before its parent's: a child that takes the
  // lock on mount does so before the parent's hook follows the entity.
  it.each([
    ['useLock', (client: WebSocketClient) => useLock({ wsClient: client, entityType: 'order', entityId: '1' })],
    ['useRealtimeSync', (client: WebSocketClient) =>
      useRealtimeSync({ wsClient: client, entityType: 'order', entityId: '1', autoStart: true, userId: 'u1' })],
  ])("a child taking %s's lock in its mount effect holds it, and the parent's unmount releases it", async (_name, use) => {
    const { server, client } = await setup();
    let seen: { lockedByMe: boolean } | null = null;
    let acquired: Promise<Lock | null> | undefined;
    function Child(p: { acquireLock: () => Promise<Lock | null> }) {
      useEffect(() => {
        acquired = p.acquireLock();
      }, []); // eslint-disable-line react-hooks/exhaustive-deps
      return null;
    }
    function Parent() {
      const l = use(client);
      seen = l;
      return createElement(Child, { acquireLock: l.acquireLock });
    }
    const view = render(createElement(Parent));
    await settle();
    await expect(acquired).resolves.toMatchObject({ fencingToken: 3 });
    expect(seen!.lockedByMe).toBe(true);
    view.unmount();
    await settle(60_000);
    expect(server.framesOfType('lock.release').length).toBeGreaterThan(0);
    expect(server.framesOfType('lock.renew')).toHaveLength(0);
    expect(getRealtimeSyncManager(client).entities).toEqual([]);
  });
});

describe('useLock releaseOnUnmount', () => {
  /** A useLock of order 1 with releaseOnUnmount `release` (a prop) that took the lock. */
  async function lockTaken(client: WebSocketClient, release: boolean) {
    const h = renderHook((p: { release: boolean }) =>
      useLock({ wsClient: client, entityType: 'order', entityId: '1', releaseOnUnmount: p.release }), { initialProps: { release } });
    await settle();
    await act(async () => {
      await h.result.current.acquireLock();
    });
    expect(h.result.current.lockedByMe).toBe(true);
    return h;
  }

  it('a change of releaseOnUnmount while mounted keeps the lock held and the entity followed', async () => {
    const { server, client } = await setup();
    const h = await lockTaken(client, true);
    // The form became dirty: keep the lock if the user navigates away.
    h.rerender({ release: false });
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(0);
    expect(server.framesOfType('unsubscribe')).toHaveLength(0);
    expect(h.result.current.lockedByMe).toBe(true);
  });

  it('unmounting honours the releaseOnUnmount of the last render while another hook follows the entity', async () => {
    const { server, client } = await setup();
    renderHook(() => useEntitySync({ wsClient: client, entityType: 'order', entityId: '1' }));
    const keep = await lockTaken(client, true);
    keep.rerender({ release: false });
    await settle();
    keep.unmount();
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(0);
    expect(getRealtimeSyncManager(client).getState('order', '1').lockedByMe).toBe(true);

    const drop = await lockTaken(client, false);
    drop.rerender({ release: true });
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(0);
    drop.unmount();
    await settle();
    expect(server.framesOfType('lock.release')).toHaveLength(1);
  });
});

describe('useWebSocketChannel', () => {
  it('takes a new maxMessages without unsubscribing or dropping its messages', async () => {
    const { server, client, sock } = await setup();
    const h = renderHook(({ max }) => useWebSocketChannel(client, 'news', undefined, { maxMessages: max }), { initialProps: { max: 10 } });
    await settle();
    act(() => sock.receive({ type: 'update', channel: 'news', payload: 1 }));
    h.rerender({ max: 20 });
    await settle();
    expect(server.framesOfType('unsubscribe')).toHaveLength(0);
    expect(h.result.current.messages).toHaveLength(1);
    expect(h.result.current.subscribed).toBe(true);
  });
});

describe('channels shared by hooks and managers', () => {
  it('keeps an entity channel subscribed while useEntitySync or useWebSocketChannel still uses it', async () => {
    const { server, client } = await setup();
    const entity = renderHook(() => useEntitySync({ wsClient: client, entityType: 'order', entityId: '1' }));
    const raw = renderHook(() => useWebSocketChannel(client, 'order:1'));
    await settle();
    raw.unmount();
    await settle();
    expect(client.subscriptions.has('order:1')).toBe(true); // the entity is still followed
    expect(server.framesOfType('unsubscribe')).toHaveLength(0);

    const again = renderHook(() => useWebSocketChannel(client, 'order:1'));
    await settle();
    entity.unmount();
    await settle();
    expect(client.subscriptions.has('order:1')).toBe(true); // the channel is still shown
    expect(again.result.current.subscribed).toBe(true);
    again.unmount();
    await settle();
    expect(client.subscriptions.has('order:1')).toBe(false);
    expect(server.framesOfType('unsubscribe')).toHaveLength(1);
  });

  it('RealtimeSyncManager and PresenceManager release their channels without dropping another holder', async () => {
    const { client } = await setup();
    const sync = new RealtimeSyncManager({ client, loadHistory: false });
    const raw = renderHook(() => useWebSocketChannel(client, 'order:1'));
    const presence = renderHook(() => useWebSocketChannel(client, 'user-presence'));
    await act(async () => {
      await sync.startSync('order', '1');
    });
    const manager = new PresenceManager({ client, trackActivity: false });
    manager.start();
    await settle();
    sync.stopSync('order', '1');
    manager.stop();
    await settle();
    expect(client.subscriptions.has('order:1')).toBe(true);
    expect(client.subscriptions.has('user-presence')).toBe(true);
    raw.unmount();
    presence.unmount();
    await settle();
    expect(client.subscriptions.size).toBe(0);
  });
});
