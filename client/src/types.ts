/**
 * Wire and domain types shared by the client and the backend.
 *
 * The envelope mirrors `internal/protocol.Envelope`; the domain records
 * (presence, changes, locks, conflicts, activity) follow the shapes the
 * back-office UI has always used. Timestamps travel as RFC 3339 strings; the
 * domain records also accept `Date` so that application code may keep parsed
 * values in them.
 */

/** Any JSON value. Payloads are typed `unknown` unless a caller narrows them. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Request types a client may send. */
export type RequestType =
  | 'ping'
  | 'hello'
  | 'subscribe'
  | 'unsubscribe'
  | 'publish'
  | 'presence'
  | 'presence.snapshot'
  | 'room.join'
  | 'room.leave'
  | 'cursor'
  | 'lock.acquire'
  | 'lock.renew'
  | 'lock.release'
  | 'change'
  | 'sync'
  | 'history'
  | 'conflict.resolve'
  | 'undo'
  | 'comment.add'
  | 'comment.resolve'
  | 'comment.list'
  | 'activity'
  | 'activity.list'
  | 'notify';

/** Reply frame types: `ack` answers any request but `ping`, which gets `pong`. */
export type ReplyType = 'ack' | 'pong' | 'error';

/** Frames the server pushes to subscribers (they carry no `replyTo`). */
export type EventType =
  | 'update'
  | 'presence'
  | 'cursor'
  | 'lock'
  | 'change'
  | 'conflict'
  | 'comment'
  | 'activity'
  | 'notification'
  | 'error';

/** Every frame type known to this client. Unknown types are still delivered. */
export type MessageType = RequestType | ReplyType | EventType;

/**
 * One frame, in either direction.
 *
 * `userId` is set by the server from the connection record (never trusted
 * from a client); `replyTo` is present on replies and names the request's
 * `messageId`.
 */
export interface WebSocketMessage<P = unknown> {
  type: MessageType | (string & {});
  channel?: string;
  payload?: P;
  /** RFC 3339, e.g. `2026-11-25T10:00:00.000Z`. */
  timestamp: string;
  userId?: string;
  messageId: string;
  replyTo?: string;
  /** `update` events of a channel with history: the publication's offset in the channel's stream. */
  offset?: number;
  /** `update` events of a channel with history: the stream's epoch (it changes when the history is lost or reset). */
  epoch?: string;
}

/** A place in a channel's stream: the offset of the last publication and the stream's epoch. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** One publication of a `history` reply or a recovery. */
export interface StreamPublication<P = unknown> {
  offset: number;
  userId: string;
  messageId: string;
  timestamp: string;
  payload?: P;
}

/** Ack payload of `history` with a channel: one page of the publications kept. */
export interface ChannelHistoryAck<P = unknown> {
  channel: string;
  /** With `since`: the publications continue it with no gap. */
  recovered?: boolean;
  position: StreamPosition;
  publications: StreamPublication<P>[];
  hasMore: boolean;
}

/**
 * Payload of the `recovery-failed` event: after a reconnect (or a gap in
 * the live updates) the publications after `since` could not be had (the
 * server no longer has them: another epoch, or older than the channel's
 * retention; or it refused the history read of a gap, or the reads of it
 * kept failing). The subscription
 * continues live from `position`; refetch what the channel's updates
 * describe.
 */
export interface RecoveryFailed {
  channel: string;
  since: StreamPosition;
  position: StreamPosition;
}

/** What a caller hands to `send`: the client fills in `messageId` and `timestamp`. */
export interface OutgoingMessage<P = unknown> {
  type: RequestType | (string & {});
  channel?: string;
  payload?: P;
  /** Reuse an id (for an application-level resend); a fresh one otherwise. */
  messageId?: string;
}

/** Well-known channels. Entity and room channels look like `order:123`, `room:dashboard`. */
export type WellKnownChannel =
  | 'order-updates'
  | 'inventory-updates'
  | 'customer-updates'
  | 'pricing-updates'
  | 'user-presence'
  | 'activity-feed'
  | 'edit-locks'
  | 'comments'
  | 'notifications';

export const WELL_KNOWN_CHANNELS: readonly WellKnownChannel[] = [
  'order-updates',
  'inventory-updates',
  'customer-updates',
  'pricing-updates',
  'user-presence',
  'activity-feed',
  'edit-locks',
  'comments',
  'notifications',
];

/** Ack payload of `hello`: who the server thinks this connection is. */
export interface HelloAck {
  connectionId: string;
  userId: string;
  username: string;
  tenant: string;
  /** The token's roles; `null` when it names none. */
  roles?: string[] | null;
  connectedAt?: string;
  serverTime: string;
}

export interface SubscribeAck<P = unknown> {
  channel: string;
  /** On a channel with history: the stream's position when the subscription started. */
  position?: StreamPosition;
  /**
   * The ack of a subscribe with `since` on a channel with history:
   * whether `publications` continue `since` with no gap, the first page of
   * them, and whether more follow (read on with `history` since the last
   * offset). `WebSocketClient.subscribe` sends `since` itself after a
   * reconnect or a gap, delivers the publications as `update` events and
   * resolves with `channel` and `position` only.
   */
  recovered?: boolean;
  publications?: StreamPublication<P>[];
  hasMore?: boolean;
}

export interface UnsubscribeAck {
  channel: string;
  wasSubscribed: boolean;
}

export interface PublishAck {
  channel: string;
  recipients: number;
  delivered: number;
  /** On a channel with history: the publication's offset (a resend gets the same) and the stream's epoch. */
  offset?: number;
  epoch?: string;
}

/** Known ack payloads by request type; other requests resolve to `unknown`. */
export interface AckPayloads {
  ping: Record<string, never>;
  hello: HelloAck;
  subscribe: SubscribeAck;
  unsubscribe: UnsubscribeAck;
  publish: PublishAck;
}

/** The ack payload type of request type `T`. */
export type AckPayload<T extends string> = T extends keyof AckPayloads ? AckPayloads[T] : unknown;

/** Payload of an `error` frame. */
export interface ErrorPayload {
  code: string;
  message: string;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

export type PresenceStatus = 'online' | 'away' | 'offline';

export interface PresenceData {
  userId: string;
  username: string;
  avatar?: string;
  status: PresenceStatus;
  lastSeen: Date | string;
  currentLocation: {
    page: string;
    section?: string;
  };
  activity?: string;
  mousePosition?: { x: number; y: number };
}

/** The seed's four operations, plus `increment` (numeric deltas) and `text` (edits of a string). */
export type ChangeOperation = 'insert' | 'update' | 'delete' | 'move' | 'increment' | 'text';

export interface Change<T = unknown> {
  id: string;
  entityId: string;
  entityType: string;
  userId: string;
  operation: ChangeOperation;
  path: string;
  before: T;
  after: T;
  timestamp: Date | string;
  resolved: boolean;
  version: number;
  metadata?: Record<string, unknown>;
  /** Display name of the author (server changes). */
  username?: string;
  /** The version the change was written against. */
  baseVersion?: number;
  /** The messageId of the request that made it. */
  messageId?: string;
  /** The entity's conflict strategy when it was applied. */
  strategy?: ConflictResolutionStrategy;
  /** applied, merged, ... (see the change ack). */
  outcome?: string;
  /** What rebasing did to it, for people. */
  notices?: string[];
  /** The change this one undoes. */
  undoOf?: string;
  /** Last-write-wins: the versions this change overwrote (see `ChangeAck.overwrote`). */
  supersedes?: number[];
  /** The conflict this change settles (a `conflict.resolve`). */
  conflictId?: string;
  /**
   * The operation as the server applied it (after transforming it past
   * concurrent changes): what replay and rebasing follow.
   */
  op?: ChangeOp;
}

/** The operation of a stored change, as the server applied it. */
export interface ChangeOp {
  op: ChangeOperation;
  path: string;
  value?: unknown;
  from?: number;
  to?: number;
  delta?: number | string;
  text?: { retain?: number; insert?: string; delete?: number }[];
}

/** A comment on an entity. */
export interface Comment {
  id: string;
  entityType: string;
  entityId: string;
  parentId?: string;
  userId: string;
  username?: string;
  avatar?: string;
  text: string;
  createdAt: Date | string;
  resolved: boolean;
  resolvedBy?: string;
  resolvedAt?: Date | string;
  /**
   * The server's number of this state of the comment: 1 when added, one
   * more with every resolve or reopen. Absent from servers before comments
   * had versions.
   */
  version?: number;
}

export interface Lock {
  entityId: string;
  entityType: string;
  lockedBy: string;
  lockedByName?: string;
  lockedAt: Date | string;
  expiresAt: Date | string;
  renewable?: boolean;
  /** Grows with every grant; a lock-based change presents the current one. */
  fencingToken?: number;
}

export type ConflictResolutionStrategy =
  | 'last-write-wins'
  | 'operational-transform'
  | 'crdt'
  | 'lock-based'
  | 'manual';

export interface Conflict<T = unknown> {
  id: string;
  localChange: Change<T>;
  remoteChange: Change<T>;
  resolutionStrategy?: ConflictResolutionStrategy;
  resolved: boolean;
  resolution?: 'local' | 'remote' | 'merged';
  mergedValue?: T;
  entityType?: string;
  entityId?: string;
  /** The path both changes touched. */
  path?: string;
  createdAt?: Date | string;
  resolvedBy?: string;
  resolvedAt?: Date | string;
  /** The version the resolution wrote; absent when it wrote none. */
  resolvedVersion?: number;
}

export type ActivityAction = 'created' | 'updated' | 'deleted' | 'viewed';

export interface ActivityLog {
  id: string;
  userId: string;
  username: string;
  avatar?: string;
  action: ActivityAction;
  entity: {
    type: string;
    id: string;
    name: string;
  };
  changes?: {
    field: string;
    before: unknown;
    after: unknown;
  }[];
  timestamp: Date | string;
  metadata?: Record<string, unknown>;
}
