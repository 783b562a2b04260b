// Fixed data for the screenshot page (?fixture): the order page as Ann sees
// it while Bob edits, with a fixed clock, so that every render is the same.
import type { ActivityLog, Change, Comment, Lock, PresenceData } from '@omnisales/rtcollab-client';
import type { WorkspaceData } from './App.js';

/** The fixture's clock: relative times are measured against it. */
export const FIXTURE_NOW = Date.UTC(2026, 2, 14, 9, 30, 0);

const at = (minutesAgo: number): string => new Date(FIXTURE_NOW - minutesAgo * 60_000).toISOString();

const ann: PresenceData = {
  userId: 'ann',
  username: 'Ann Srisuk',
  status: 'online',
  lastSeen: at(0),
  currentLocation: { page: 'orders', section: 'order-1001' },
  activity: 'rt:viewingOrder?id=1001',
};
const bob: PresenceData = {
  userId: 'bob',
  username: 'Bob Chaiyo',
  status: 'online',
  lastSeen: at(0),
  currentLocation: { page: 'orders', section: 'order-1001' },
  activity: 'rt:editingOrder?id=1001',
};
const chai: PresenceData = {
  userId: 'chai',
  username: 'Chai Wongsa',
  status: 'away',
  lastSeen: at(12),
  currentLocation: { page: 'dashboard' },
};

const lock: Lock = { entityType: 'order', entityId: '1001', lockedBy: 'bob', lockedByName: 'Bob Chaiyo', lockedAt: at(3), expiresAt: at(-2) };

function change(version: number, path: string, before: unknown, after: unknown, minutesAgo: number): Change {
  return {
    id: `c${version}`,
    entityId: '1001',
    entityType: 'order',
    userId: 'bob',
    username: 'Bob Chaiyo',
    operation: 'update',
    path,
    before,
    after,
    version,
    timestamp: at(minutesAgo),
  } as Change;
}

const history: Change[] = [
  change(1, 'customer.name', 'Siam Trading Co.', 'Chiang Mai Foods Ltd.', 3),
  change(2, 'items.rice.qty', 10, 42, 2),
  change(3, 'shipping', '99 Sukhumvit Rd, Khlong Toei, Bangkok 10110', '1 Nimman Rd, Chiang Mai 50200', 1),
];

const comments: Comment[] = [
  { id: 'm1', entityType: 'order', entityId: '1001', userId: 'ann', username: 'Ann Srisuk', text: 'Customer confirmed by phone', createdAt: at(8), resolved: false },
  { id: 'm2', entityType: 'order', entityId: '1001', userId: 'bob', username: 'Bob Chaiyo', text: 'Deliver before noon', createdAt: at(4), resolved: true },
];

function entry(id: string, userId: string, username: string, action: ActivityLog['action'], minutesAgo: number, changes?: ActivityLog['changes']): ActivityLog {
  const a: ActivityLog = { id, userId, username, action, entity: { type: 'order', id: '1001', name: 'Order #1001' }, timestamp: at(minutesAgo) };
  if (changes !== undefined) a.changes = changes;
  return a;
}

const activities: ActivityLog[] = [
  entry('a6', 'bob', 'Bob Chaiyo', 'updated', 1, [{ field: 'shipping', before: '99 Sukhumvit Rd, Khlong Toei, Bangkok 10110', after: '1 Nimman Rd, Chiang Mai 50200' }]),
  entry('a5', 'bob', 'Bob Chaiyo', 'updated', 2, [{ field: 'items.rice.qty', before: 10, after: 42 }]),
  // Recorded as "created" by a server that took the order's first change for its creation: reads as an edit.
  entry('a4', 'bob', 'Bob Chaiyo', 'created', 3, [{ field: 'customer.name', before: 'Siam Trading Co.', after: 'Chiang Mai Foods Ltd.' }]),
  entry('a3', 'bob', 'Bob Chaiyo', 'viewed', 5),
  entry('a2', 'ann', 'Ann Srisuk', 'viewed', 9),
  entry('a1', 'chai', 'Chai Wongsa', 'viewed', 180),
];

const never = (): Promise<never> => new Promise(() => {});

/** The screenshot page's data (nothing is sent anywhere: the actions never settle). */
export function fixtureData(): WorkspaceData {
  return {
    userId: 'ann',
    orderId: '1001',
    connection: { status: 'open', latency: null, queuedMessages: 0, connectionId: 'Yx3kQ1fXoAMCJdw=', browserOnline: true },
    showLatency: false,
    sync: {
      document: { customer: { name: 'Chiang Mai Foods Ltd.' }, items: { rice: { qty: 42 } }, shipping: '1 Nimman Rd, Chiang Mai 50200' },
      isLocked: true,
      lockedByMe: false,
      lock,
      expiredLock: null,
      syncState: 'synced',
      version: 3,
      localChanges: [],
      comments,
      changeHistory: history,
      conflicts: [],
      pushChange: never,
      acquireLock: never,
      releaseLock: never,
      addComment: never,
      resolveComment: never,
      undoChange: never,
      resolveConflict: never,
    },
    room: { usersInRoom: [ann, bob], userCount: 2, cursors: [], updateCursor: () => {} },
    activeUsers: [ann, bob, chai],
    activities,
    hasMoreActivity: false,
    onLoadMoreActivity: () => {},
  };
}
