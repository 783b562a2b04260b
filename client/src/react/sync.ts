import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { DocumentValue } from '../document.js';
import {
  getRealtimeSyncManager,
  lockTakenByWrite,
  type ChangeAck,
  type ChangeInput,
  type EntitySyncState,
  type RealtimeSyncManager,
  type SyncState,
} from '../sync-manager.js';
import type { Change, Comment, Conflict, ConflictResolutionStrategy, Lock } from '../types.js';
import { RealtimeError } from '../errors.js';
import { backoffDelay, type BackoffOptions } from '../backoff.js';
import { useResolvedClient, type ClientSource } from './hooks.js';

/** Waits between automatic resolve attempts of one conflict after temporary failures. */
const AUTO_RESOLVE_BACKOFF: BackoffOptions = { reconnectInterval: 1000, maxReconnectInterval: 30_000, reconnectDecay: 2 };

export interface UseRealtimeSyncOptions {
  /** The connection: a client, a `useWebSocket` result, or options for a client of the hook's own. */
  wsClient: ClientSource;
  /** This user's id; default: the server's, from the connection's hello. */
  userId?: string;
  username?: string;
  entityType: string;
  entityId: string;
  /**
   * The strategy this screen expects. The server's strategy for the entity
   * type is authoritative (`strategy` in the result); this one only picks
   * how `autoResolveConflicts` settles conflicts.
   */
  conflictStrategy?: ConflictResolutionStrategy;
  /**
   * Settle manual conflicts of this user at once: `true` keeps the local
   * value under last-write-wins and the remote one otherwise; `local` or
   * `remote` say which. Default false: list them in `conflicts`. Each
   * conflict is asked once; after a temporary failure (a retryable error)
   * again with backoff; a refusal (FORBIDDEN, NOT_FOUND...) is not asked
   * again, and shows in `error` while the conflict stays open.
   */
  autoResolveConflicts?: boolean | 'local' | 'remote';
  /** Start syncing on mount, without a `startSync()` call. Default false (the seed's examples call it). */
  autoStart?: boolean;
  /**
   * Release, on unmount, when the entity changes or when `stopSync()` lets
   * go of the entity, a lock this hook took (its `acquireLock`, or one of
   * its changes to a lock-based entity), also while other hooks still
   * follow the entity; a change in flight then is answered first. Read
   * then, so a change while mounted keeps the lock. Default true.
   */
  releaseOnUnmount?: boolean;
}

export interface UseRealtimeSyncResult<T extends DocumentValue = DocumentValue> {
  syncState: SyncState;
  syncing: boolean;
  version: number;
  lastSyncedAt: Date | null;

  localChanges: readonly Change[];
  remoteChanges: readonly Change[];
  conflicts: readonly Conflict[];
  changeHistory: readonly Change[];

  lock: Lock | null;
  isLocked: boolean;
  lockedByMe: boolean;
  /**
   * This user's lock that expired (not renewed in time), until it is taken
   * again or released: it is not taken again by itself (see
   * `EntitySyncState.expiredLock`).
   */
  expiredLock: Lock | null;

  /** The document, with this user's unaccepted changes applied. */
  document: T;
  /** The server's conflict strategy for the entity (null before the first sync). */
  strategy: ConflictResolutionStrategy | null;
  comments: readonly Comment[];
  error: RealtimeError | null;

  startSync: () => Promise<EntitySyncState<T>>;
  /**
   * Stops following; while this user's changes wait to go out, or the
   * connection is down, only once they are delivered (a `startSync()`
   * before that keeps following). Letting go, it releases the lock this
   * hook took, as an unmount does (see `releaseOnUnmount`).
   */
  stopSync: () => void;
  /** Catch up now (also happens by itself on gaps and reconnects). */
  sync: () => Promise<EntitySyncState<T>>;
  pushChange: <V = unknown>(change: ChangeInput<V>) => Promise<Change>;
  /**
   * Takes the lock; null when another user holds it, or when the hook
   * unmounted (or moved to another entity, or its `stopSync()` let go)
   * before the lock was granted and `releaseOnUnmount` is true (it is then
   * released). Renewed while held.
   * Asked before the entity is followed (before `startSync()`, as from a
   * child's mount effect), the manager follows it for the lock.
   */
  acquireLock: () => Promise<Lock | null>;
  releaseLock: () => Promise<void>;
  resolveConflict: (conflictId: string, resolution: 'local' | 'remote' | 'merged', mergedValue?: unknown) => Promise<ChangeAck>;
  undoChange: (changeId: string) => Promise<ChangeAck>;
  addComment: (text: string, parentId?: string) => Promise<Comment>;
  resolveComment: (commentId: string, resolved?: boolean) => Promise<Comment>;
  manager: RealtimeSyncManager;
}

/** The lock one run of useRealtimeSync's effect (one entity, while mounted) took. */
interface LockRun {
  readonly type: string;
  readonly id: string;
  /**
   * The grant this hook's acquireLock, or a write of its that needed the
   * lock, took (not another hook's acquireLock), or null. Only that grant
   * (its fencing token) is released: not a later one, such as one a
   * startSync() and acquireLock() took after a stopSync() ended the run.
   */
  took: Lock | null;
  /** This hook's writes not settled yet (the lock is released after them). */
  writes: number;
  /** The hook unmounted or moved to another entity. */
  ended: boolean;
}

/** Whether `lock` is the grant `grant` (renewals keep its fencing token). */
function sameGrant(lock: Lock | null, grant: Lock): boolean {
  if (lock === null) return false;
  if (lock.fencingToken !== undefined || grant.fencingToken !== undefined) return lock.fencingToken === grant.fencingToken;
  return lock.lockedAt === grant.lockedAt;
}

/**
 * A ref holding the value of the last committed render, for cleanups that
 * must see the latest option without making it an effect dependency.
 */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useEffect(() => {
    ref.current = value;
  }, [value]);
  return ref;
}

function useEntityState<T extends DocumentValue>(m: RealtimeSyncManager, type: string, id: string): EntitySyncState<T> {
  const subscribe = useCallback((fn: () => void) => m.subscribeEntity(type, id, fn), [m, type, id]);
  const get = useCallback(() => m.getState<T>(type, id), [m, type, id]);
  return useSyncExternalStore(subscribe, get, get);
}

/**
 * Real-time sync of one entity: its document and version, local and
 * remote changes, conflicts, history, lock and comments (the seed's
 * `useRealtimeSync`). Following starts with `startSync()` (or on mount with
 * `autoStart`) and ends with `stopSync()` or unmount. `stopSync()` keeps
 * following while this user's changes wait to be sent or the connection is
 * down, so a change is not lost when it is called on a connection drop (as
 * the seed's Example 1 does), and one made offline is queued; it lets go
 * once they are delivered with the connection up, and a `startSync()`
 * before that keeps following. Unmounting, or another entity, lets go at
 * once. Letting go, by either or by `stopSync()`, releases a lock the hook
 * took (see `releaseOnUnmount`) even while other hooks follow the entity.
 */
export function useRealtimeSync<T extends DocumentValue = DocumentValue>(options: UseRealtimeSyncOptions): UseRealtimeSyncResult<T> {
  const client = useResolvedClient(options.wsClient);
  const manager = getRealtimeSyncManager(client, options.userId === undefined ? {} : { userId: options.userId });
  const { entityType, entityId } = options;
  const state = useEntityState<T>(manager, entityType, entityId);
  const started = useRef<{ type: string; id: string } | null>(null);
  // stopSync() was called while this user's changes to the entity still
  // waited to go out, or while the connection was down: the manager keeps
  // following (so they are delivered, and edits made offline are queued)
  // until nothing waits and the connection is up, unless a startSync()
  // takes the entity back first.
  const stopping = useRef(false);

  // Lets go of what this hook started, at once.
  const release = useCallback(() => {
    const s = started.current;
    if (s === null) return;
    started.current = null;
    stopping.current = false;
    manager.stopSync(s.type, s.id);
  }, [manager]);

  const idleNow = useCallback(
    (s: { type: string; id: string }) => client.connected && manager.getState(s.type, s.id).localChanges.length === 0,
    [client, manager],
  );

  const startSync = useCallback(() => {
    const s = started.current;
    if (s !== null && s.type === entityType && s.id === entityId) {
      stopping.current = false;
      return manager.sync(entityType, entityId) as Promise<EntitySyncState<T>>;
    }
    release();
    started.current = { type: entityType, id: entityId };
    return manager.startSync(entityType, entityId) as Promise<EntitySyncState<T>>;
  }, [manager, entityType, entityId, release]);

  const releaseOnUnmount = useLatest(options.releaseOnUnmount ?? true);
  // The lock this hook took for the current entity: released when the hook
  // lets go of the entity, although other hooks may still follow it (the
  // manager releases a held lock only when the last one goes).
  const lockRun = useRef<LockRun | null>(null);
  // Releases the lock `r` took once it ended and its writes are settled
  // (released under a change in flight, the lock would be taken again to
  // resend it), when this user still holds that same grant.
  const releaseTaken = useCallback(
    (r: LockRun) => {
      const grant = r.took;
      if (!r.ended || grant === null || r.writes > 0 || !releaseOnUnmount.current) return;
      r.took = null;
      const now = manager.getState(r.type, r.id);
      if (now.lockedByMe && sameGrant(now.lock, grant)) manager.releaseLock(r.type, r.id).catch(() => {});
    },
    [manager, releaseOnUnmount],
  );
  // Ends run `r`: the lock this user holds then, when the run took one, is
  // its grant (a reconnect may have taken it again under a new fencing
  // token); it is released once the run's writes are settled.
  const endRun = useCallback(
    (r: LockRun) => {
      const now = manager.getState(r.type, r.id);
      if (r.took !== null && now.lockedByMe && now.lock !== null) r.took = now.lock;
      r.ended = true;
      releaseTaken(r);
    },
    [manager, releaseTaken],
  );

  // Switching entities or unmounting stops what this hook started, and
  // releases the lock it took: after the stopSync, which releases it
  // itself when no one else follows the entity.
  useEffect(() => {
    lockRun.current = { type: entityType, id: entityId, took: null, writes: 0, ended: false };
    return () => {
      const r = lockRun.current;
      lockRun.current = null;
      release();
      if (r !== null) endRun(r);
    };
  }, [release, endRun, entityType, entityId]);

  // stopSync() letting go of the entity ends the run as an unmount does:
  // the lock the hook took is released (after its writes still out), and
  // the hook, still mounted, goes on with a run that took nothing (a
  // startSync() or acquireLock() after it).
  const stopFollowing = useCallback(() => {
    const s = started.current;
    release();
    const r = lockRun.current;
    if (s === null || r === null || r.type !== s.type || r.id !== s.id) return;
    lockRun.current = { type: r.type, id: r.id, took: null, writes: 0, ended: false };
    endRun(r);
  }, [release, endRun]);

  const stopSync = useCallback(() => {
    const s = started.current;
    if (s === null || stopping.current) return;
    if (idleNow(s)) stopFollowing();
    else stopping.current = true;
  }, [idleNow, stopFollowing]);

  // A deferred stopSync() ends once the changes are delivered with the
  // connection up. It waits for the other effects of this commit: Example 1
  // calls startSync() again on the reconnect, and then keeps following.
  const waiting = state.localChanges.length;
  const syncState = state.syncState;
  useEffect(() => {
    if (!stopping.current) return;
    queueMicrotask(() => {
      const s = started.current;
      if (stopping.current && s !== null && idleNow(s)) stopFollowing();
    });
  }, [waiting, syncState, idleNow, stopFollowing]);

  const autoStart = options.autoStart ?? false;
  useEffect(() => {
    if (autoStart) void startSync();
  }, [autoStart, startSync]);

  const auto = options.autoResolveConflicts ?? false;
  const strategy = options.conflictStrategy;
  // Conflicts this hook does not ask to resolve now: the list is rebuilt on
  // every change of the entity, and one still unresolved must not be sent
  // again while its request is in flight, after a refusal that would only
  // come again (it stays in the list, with the refusal in `error`), or
  // before the backoff after a temporary failure has passed.
  const resolving = useRef(new Set<string>());
  const retries = useRef(new Map<string, { attempts: number; timer: ReturnType<typeof setTimeout> | null }>());
  const [retryTick, setRetryTick] = useState(0);
  const [autoError, setAutoError] = useState<{ id: string; error: RealtimeError } | null>(null);
  // Unmounted: an answer that comes afterwards sets no state and starts no
  // backoff. Effects run again on a later mount (StrictMode, a hidden
  // Activity shown again), which clears it.
  const unmounted = useRef(false);
  useEffect(() => {
    unmounted.current = false;
    const pending = retries.current;
    const asked = resolving.current;
    return () => {
      unmounted.current = true;
      // Unmounted: a retry waiting for its backoff is asked at once on a
      // later mount instead.
      for (const [id, r] of pending) {
        if (r.timer === null) continue;
        clearTimeout(r.timer);
        r.timer = null;
        asked.delete(id);
      }
    };
  }, []);
  useEffect(() => {
    if (auto === false) return;
    const side = auto === true ? (strategy === 'last-write-wins' ? 'local' : 'remote') : auto;
    for (const c of state.conflicts) {
      if (!c.resolved && c.localChange.userId === manager.userId && !resolving.current.has(c.id)) {
        resolving.current.add(c.id);
        manager.resolveConflict(c.id, side).then(
          () => {
            retries.current.delete(c.id);
            if (!unmounted.current) setAutoError((prev) => (prev?.id === c.id ? null : prev));
          },
          (err: unknown) => {
            const re = err instanceof RealtimeError ? err : new RealtimeError({ code: 'INTERNAL', message: String(err), cause: err });
            // Settled already (the manager shows it so): not asked again.
            if (re.code === 'CONFLICT_RESOLVED') return;
            if (unmounted.current) {
              // Asked again at once on a later mount, as a retry waiting
              // for its backoff at the unmount is.
              resolving.current.delete(c.id);
              return;
            }
            setAutoError({ id: c.id, error: re });
            // Refused for good (FORBIDDEN, NOT_FOUND, BAD_REQUEST...): not
            // asked again; the user can still resolve it by hand.
            if (!re.retryable) return;
            const r = retries.current.get(c.id) ?? { attempts: 0, timer: null };
            retries.current.set(c.id, r);
            r.timer = setTimeout(() => {
              r.timer = null;
              resolving.current.delete(c.id);
              setRetryTick((n) => n + 1);
            }, backoffDelay(r.attempts, AUTO_RESOLVE_BACKOFF));
            r.attempts++;
          },
        );
      }
    }
  }, [auto, strategy, state.conflicts, manager, retryTick]);
  // The refusal shows while its conflict is open.
  const autoResolveError =
    autoError !== null && state.conflicts.some((c) => c.id === autoError.id && !c.resolved) ? autoError.error : null;

  const actions = useMemo(() => {
    // The run of this entity, when it is the current one.
    const runOf = (): LockRun | null => {
      const r = lockRun.current;
      return r !== null && r.type === entityType && r.id === entityId ? r : null;
    };
    // Every write of this hook is counted while it is out, whoever holds
    // the lock: the lock this hook took is released only once they are
    // answered (released under one, it would be taken again to resend it).
    // A write that may take the lock (the lock not held when it starts):
    // the lock is this hook's when the write took it itself (the manager's
    // latest write grant changed while it was out and is the lock held),
    // not when another hook's acquireLock took it meanwhile.
    const watched = <R>(send: () => Promise<R>): Promise<R> => {
      const r = runOf();
      if (r === null) return send();
      r.writes++;
      const mayTake = !manager.getState(entityType, entityId).lockedByMe;
      const before = lockTakenByWrite(manager, entityType, entityId);
      const done = (): void => {
        r.writes--;
        const grant = lockTakenByWrite(manager, entityType, entityId);
        const now = manager.getState(entityType, entityId);
        // A write of a run that took the lock may take it again (to resend
        // after it expired): the run's grant is then the new one.
        if ((mayTake || r.took !== null) && grant !== null && grant !== before && now.lockedByMe && sameGrant(now.lock, grant)) {
          r.took = grant;
        }
        releaseTaken(r);
      };
      const p = send();
      p.then(done, done);
      return p;
    };
    return {
      pushChange: <V = unknown>(change: ChangeInput<V>) =>
        watched(() =>
          manager.pushChange({ ...change, entityType: change.entityType ?? entityType, entityId: change.entityId ?? entityId }),
        ),
      acquireLock: () => {
        // Asked before the hook's effect ran (from a child's mount effect):
        // the run that started since.
        const asked = runOf();
        return manager.acquireLock(entityType, entityId).then((lock) => {
          const r = asked ?? runOf();
          if (lock === null || r === null) return lock;
          r.took = lock;
          if (!r.ended) return lock;
          // Granted after the hook let go of the entity (another hook may
          // still follow it): released rather than held.
          releaseTaken(r);
          return releaseOnUnmount.current ? null : lock;
        });
      },
      releaseLock: () => {
        const r = runOf();
        if (r !== null) r.took = null;
        return manager.releaseLock(entityType, entityId);
      },
      resolveConflict: (conflictId: string, resolution: 'local' | 'remote' | 'merged', mergedValue?: unknown) =>
        watched(() => manager.resolveConflict(conflictId, resolution, mergedValue)),
      undoChange: (changeId: string) => watched(() => manager.undoChange(changeId)),
      addComment: (text: string, parentId?: string) => manager.addComment(entityType, entityId, text, parentId),
      resolveComment: (commentId: string, resolved?: boolean) =>
        manager.resolveComment(entityType, entityId, commentId, resolved),
      sync: () => manager.sync(entityType, entityId) as Promise<EntitySyncState<T>>,
    };
  }, [manager, entityType, entityId, releaseTaken, releaseOnUnmount]);

  return {
    syncState: state.syncState,
    syncing: state.syncing,
    version: state.version,
    lastSyncedAt: state.lastSyncedAt,
    localChanges: state.localChanges,
    remoteChanges: state.remoteChanges,
    conflicts: state.conflicts,
    changeHistory: state.changeHistory,
    lock: state.lock,
    isLocked: state.isLocked,
    lockedByMe: state.lockedByMe,
    expiredLock: state.expiredLock,
    document: state.document,
    strategy: state.strategy,
    comments: state.comments,
    error: state.error ?? autoResolveError,
    startSync,
    stopSync,
    ...actions,
    manager,
  };
}

export interface UseEntitySyncOptions {
  wsClient: ClientSource;
  entityType: string;
  entityId: string;
  /** Follow the entity while true. Default true. */
  enabled?: boolean;
}

export interface UseEntitySyncResult<T extends DocumentValue = DocumentValue> {
  /** The entity's document (with this user's pending changes). */
  data: T;
  version: number;
  syncState: SyncState;
  syncing: boolean;
  lastSyncedAt: Date | null;
  error: RealtimeError | null;
  /** Sets one field: an `update` change, taking the lock first when the entity is lock-based. */
  update: (path: string, value: unknown) => Promise<Change>;
  /** Deletes one field. */
  remove: (path: string) => Promise<Change>;
  refresh: () => Promise<EntitySyncState<T>>;
}

/** Simple entity sync: follows the entity while mounted and exposes its data and field setters. */
export function useEntitySync<T extends DocumentValue = DocumentValue>(options: UseEntitySyncOptions): UseEntitySyncResult<T> {
  const client = useResolvedClient(options.wsClient);
  const manager = getRealtimeSyncManager(client);
  const { entityType, entityId } = options;
  const enabled = options.enabled ?? true;
  useEffect(() => {
    if (!enabled) return undefined;
    void manager.startSync(entityType, entityId);
    return () => manager.stopSync(entityType, entityId);
  }, [manager, entityType, entityId, enabled]);
  const state = useEntityState<T>(manager, entityType, entityId);
  const actions = useMemo(
    () => ({
      update: (path: string, value: unknown) =>
        manager.pushChange({ entityType, entityId, operation: 'update', path, after: value }),
      remove: (path: string) => manager.pushChange({ entityType, entityId, operation: 'delete', path }),
      refresh: () => manager.sync(entityType, entityId) as Promise<EntitySyncState<T>>,
    }),
    [manager, entityType, entityId],
  );
  return {
    data: state.document,
    version: state.version,
    syncState: state.syncState,
    syncing: state.syncing,
    lastSyncedAt: state.lastSyncedAt,
    error: state.error,
    ...actions,
  };
}

export interface UseLockOptions {
  wsClient: ClientSource;
  entityType: string;
  entityId: string;
  /** Release a lock this user holds on unmount. Default true. */
  releaseOnUnmount?: boolean;
}

export interface UseLockResult {
  lock: Lock | null;
  isLocked: boolean;
  lockedByMe: boolean;
  /** This user's lock that expired, until it is taken again or released (see `EntitySyncState.expiredLock`). */
  expiredLock: Lock | null;
  /**
   * Takes the lock; null when another user holds it, or when the hook
   * unmounted before the lock was granted (it is then released). Renewed
   * while held.
   */
  acquireLock: () => Promise<Lock | null>;
  releaseLock: () => Promise<void>;
}

/** Lock management only: the entity's edit lock, renewed while held. */
export function useLock(options: UseLockOptions): UseLockResult {
  const client = useResolvedClient(options.wsClient);
  const manager = getRealtimeSyncManager(client);
  const { entityType, entityId } = options;
  // Read when the hook lets go, not a dependency of the effect: a change
  // while mounted must not end the effect (releasing the lock and
  // following the entity again from scratch).
  const releaseOnUnmount = useLatest(options.releaseOnUnmount ?? true);
  // Whether this hook took the lock: on unmount it releases only a lock
  // it took, not one another hook of the same entity is editing with.
  const took = useRef(false);
  // Counts the ends of the effect's runs: a lock granted after the run that
  // asked for it ended (unmount, or another entity) is not this hook's any
  // more. A start does not count: a child's mount effect, which React runs
  // before this one, may ask for the lock before the first run started.
  const run = useRef(0);
  useEffect(() => {
    took.current = false;
    void manager.startSync(entityType, entityId);
    return () => {
      run.current += 1;
      if (releaseOnUnmount.current && took.current && manager.getState(entityType, entityId).lockedByMe) {
        manager.releaseLock(entityType, entityId).catch(() => {});
      }
      took.current = false;
      manager.stopSync(entityType, entityId);
    };
  }, [manager, entityType, entityId, releaseOnUnmount]);
  const state = useEntityState(manager, entityType, entityId);
  const actions = useMemo(
    () => ({
      acquireLock: () => {
        const asked = run.current;
        return manager.acquireLock(entityType, entityId).then((lock) => {
          if (lock !== null && run.current !== asked) {
            // Granted after the hook let go of the entity (another hook
            // may still follow it): release it rather than hold it.
            if (releaseOnUnmount.current) {
              manager.releaseLock(entityType, entityId).catch(() => {});
              return null;
            }
            return lock;
          }
          if (lock !== null) took.current = true;
          return lock;
        });
      },
      releaseLock: () => {
        took.current = false;
        return manager.releaseLock(entityType, entityId);
      },
    }),
    [manager, entityType, entityId, releaseOnUnmount],
  );
  return { lock: state.lock, isLocked: state.isLocked, lockedByMe: state.lockedByMe, expiredLock: state.expiredLock, ...actions };
}
