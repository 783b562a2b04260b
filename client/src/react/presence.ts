import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import {
  canonicalRoom,
  getPresenceManager,
  presenceOptionsError,
  retainPresenceManager,
  type PresenceManagerOptions,
  type CursorAnchor,
  type CursorPosition,
  type JoinRoomOptions,
  type PresenceManager,
  type PresenceSnapshot,
} from '../presence.js';
import { RealtimeError } from '../errors.js';
import type { PresenceData, PresenceStatus } from '../types.js';
import type { ConnectionState } from '../websocket-client.js';
import { useResolvedClient, type ClientSource } from './hooks.js';

export interface UsePresenceOptions {
  wsClient: ClientSource;
  /** This user's id (the server takes identity from the connection; this marks "me"). */
  userId?: string;
  username?: string;
  avatar?: string;
  initialPage?: string;
  initialSection?: string;
  /** Send this user's mouse position (throttled to 100 ms) to the rooms they are in. Default false. */
  trackMouse?: boolean;
  /** No input for this long (ms) makes this user away. Default 300000 (5 min). */
  awayTimeout?: number;
}

export interface UsePresenceResult {
  currentUser: PresenceData | null;
  status: PresenceStatus;

  activeUsers: readonly PresenceData[];
  onlineCount: number;
  awayCount: number;

  setStatus: (status: PresenceStatus) => void;
  setLocation: (page: string, section?: string) => void;
  setActivity: (activity: string) => void;
  updateMousePosition: (x: number, y: number) => void;
  /** Calls `listener` with every new presence snapshot; returns the unsubscribe function. */
  subscribe: (listener: (snapshot: PresenceSnapshot) => void) => () => void;
  error: Error | null;
  manager: PresenceManager;
}

/**
 * The client's PresenceManager, started while any hook holds it, and the
 * error of this hook's own options: a page, section or avatar the server
 * would refuse (over its UTF-8 bytes), or an awayTimeout that is not a
 * number of milliseconds >= 0, makes the constructor throw, so the
 * manager is created without them and the hook reports the error instead
 * of throwing during render. The options are checked at every render (the
 * error stays while the option does), also when another hook created the
 * manager.
 */
function usePresenceManager(
  source: ClientSource,
  o: Omit<UsePresenceOptions, 'wsClient' | 'trackMouse'>,
): { manager: PresenceManager; optionError: Error | null } {
  const client = useResolvedClient(source);
  const { avatar, initialPage, initialSection, awayTimeout } = o;
  const optionError = useMemo(
    () => presenceOptionsError({ avatar, initialPage, initialSection, awayTimeout }),
    [avatar, initialPage, initialSection, awayTimeout],
  );
  // The first caller's options create the page-wide manager.
  const opts: Omit<PresenceManagerOptions, 'client'> = {};
  if (o.userId !== undefined) opts.userId = o.userId;
  if (o.username !== undefined) opts.username = o.username;
  if (optionError === null) {
    if (avatar !== undefined) opts.avatar = avatar;
    if (initialPage !== undefined) opts.initialPage = initialPage;
    if (initialSection !== undefined) opts.initialSection = initialSection;
  }
  // A valid awayTimeout is kept whatever else is refused.
  if (awayTimeout !== undefined && presenceOptionsError({ awayTimeout }) === null) opts.awayTimeout = awayTimeout;
  const manager = getPresenceManager(client, opts);
  useEffect(() => retainPresenceManager(client).release, [client]);
  return { manager, optionError };
}

function usePresenceSnapshot(m: PresenceManager): PresenceSnapshot {
  return useSyncExternalStore(m.subscribe, m.getSnapshot, m.getSnapshot);
}

/** This user's presence and the tenant's active users (the seed's `usePresence`). */
export function usePresence(options: UsePresenceOptions): UsePresenceResult {
  const { manager, optionError } = usePresenceManager(options.wsClient, options);
  const snap = usePresenceSnapshot(manager);
  const { initialPage, initialSection } = options;
  // A location the server would refuse is reported in `error`, not thrown
  // from the effect (the location set before stays).
  const [locationError, setLocationError] = useState<Error | null>(null);
  useEffect(() => {
    if (initialPage === undefined) return;
    try {
      manager.setLocation(initialPage, initialSection);
      setLocationError(null);
    } catch (err) {
      if (!(err instanceof RealtimeError)) throw err;
      setLocationError(err);
    }
  }, [manager, initialPage, initialSection]);
  const trackMouse = options.trackMouse ?? false;
  useEffect(() => {
    if (!trackMouse || typeof window === 'undefined') return undefined;
    const onMove = (ev: MouseEvent): void => manager.updateMousePosition(ev.pageX, ev.pageY);
    window.addEventListener('mousemove', onMove, { passive: true });
    return () => window.removeEventListener('mousemove', onMove);
  }, [manager, trackMouse]);
  const actions = useMemo(
    () => ({
      setStatus: (s: PresenceStatus) => manager.setStatus(s),
      setLocation: (page: string, section?: string) => manager.setLocation(page, section),
      setActivity: (a: string) => manager.setActivity(a),
      updateMousePosition: (x: number, y: number) => manager.updateMousePosition(x, y),
      subscribe: (listener: (s: PresenceSnapshot) => void) => manager.on('change', listener),
    }),
    [manager],
  );
  return {
    currentUser: snap.currentUser,
    status: snap.status,
    activeUsers: snap.activeUsers,
    onlineCount: snap.onlineCount,
    awayCount: snap.awayCount,
    error: locationError ?? optionError ?? snap.error,
    ...actions,
    manager,
  };
}

export interface UseRoomPresenceOptions {
  /** This user's avatar, sent with the join. */
  avatar?: string;
  /**
   * This user's location, sent with the join (also when another hook created
   * the presence manager). The server keeps one location per connection: the
   * room joined last sets it for every room (see JoinRoomOptions).
   */
  page?: string;
  section?: string;
}

export interface UseRoomPresenceResult {
  room: string;
  /** Users in the room, this user included. */
  usersInRoom: readonly PresenceData[];
  userCount: number;
  onlineCount: number;
  awayCount: number;
  /** Other users' cursors in the room. */
  cursors: readonly CursorPosition[];
  /** The server confirmed this connection in the room. */
  joined: boolean;
  /** Sends this user's cursor (throttled to one frame per 100 ms). */
  updateCursor: (x: number, y: number) => void;
  /** Sends a cursor relative to an element, e.g. the field being edited. */
  updateCursorAnchor: (anchor: CursorAnchor) => void;
}

const NO_USERS: readonly PresenceData[] = [];
const NO_CURSORS: readonly CursorPosition[] = [];

/** Presence in one room while mounted (the seed's `useRoomPresence(ws, userId, username, room)`). */
export function useRoomPresence(
  wsClient: ClientSource,
  userId: string | undefined,
  username: string | undefined,
  room: string,
  options: UseRoomPresenceOptions = {},
): UseRoomPresenceResult {
  const presenceOptions: Omit<UsePresenceOptions, 'wsClient'> = {};
  if (userId !== undefined) presenceOptions.userId = userId;
  if (username !== undefined) presenceOptions.username = username;
  if (options.avatar !== undefined) presenceOptions.avatar = options.avatar;
  if (options.page !== undefined) presenceOptions.initialPage = options.page;
  if (options.section !== undefined) presenceOptions.initialSection = options.section;
  const { manager } = usePresenceManager(wsClient, presenceOptions);
  const name = canonicalRoom(room);
  const { page, section, avatar } = options;
  useEffect(() => {
    // The options of the render that (re)joins: a later change alone does
    // not leave and enter the room again.
    const join: JoinRoomOptions = { avatar };
    if (page !== undefined) join.location = { page, section };
    const r = manager.joinRoom(name, join);
    r.ready.catch(() => {});
    return r.release;
  }, [manager, name]);
  const select = useCallback(() => manager.getSnapshot().rooms[name], [manager, name]);
  const entry = useSyncExternalStore(manager.subscribe, select, select);
  const updateCursor = useCallback((x: number, y: number) => manager.updateCursor(name, { x, y }), [manager, name]);
  const updateCursorAnchor = useCallback((anchor: CursorAnchor) => manager.updateCursor(name, { anchor }), [manager, name]);
  return {
    room: name,
    usersInRoom: entry?.usersInRoom ?? NO_USERS,
    userCount: entry?.userCount ?? 0,
    onlineCount: entry?.onlineCount ?? 0,
    awayCount: entry?.awayCount ?? 0,
    cursors: entry?.cursors ?? NO_CURSORS,
    joined: entry?.joined ?? false,
    updateCursor,
    updateCursorAnchor,
  };
}

export interface OnlineStatus {
  /** The browser has a network and the connection to the server is open. */
  isOnline: boolean;
  /** `navigator.onLine` (true where there is no navigator). */
  browserOnline: boolean;
  /** The WebSocket connection is open. */
  connected: boolean;
  status: ConnectionState;
  /**
   * When the connection was last seen open (null if never): while it is open,
   * when it opened; after it went down, when it did. Taken from the client
   * (its snapshot's `lastOpenedAt` / `lastClosedAt`), so a component mounted
   * later reports the same time; the same Date across renders until the
   * connection opens or goes down again.
   */
  lastOnlineAt: Date | null;
}

/** Simple online/offline status: the browser's network and the connection to the server. */
export function useOnlineStatus(wsClient: ClientSource): OnlineStatus {
  const client = useResolvedClient(wsClient);
  const snap = useSyncExternalStore(client.subscribeSnapshot, client.getSnapshot, client.getSnapshot);
  const [browserOnline, setBrowserOnline] = useState(() => (typeof navigator === 'undefined' ? true : navigator.onLine !== false));
  useEffect(() => {
    if (typeof window === 'undefined') return undefined;
    const on = (): void => setBrowserOnline(true);
    const off = (): void => setBrowserOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, []);
  const connected = snap.state === 'open';
  const lastOnlineAt = connected ? snap.lastOpenedAt : snap.lastClosedAt;
  return { isOnline: browserOnline && connected, browserOnline, connected, status: snap.state, lastOnlineAt };
}
