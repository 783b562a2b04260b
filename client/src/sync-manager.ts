import {
  applyChange,
  applyLocalChange,
  getPath,
  liftToExistingParent,
  parsePath,
  type DocumentValue,
  type PathSegment,
  type LocalChange,
} from './document.js';
import { normalizeText, textDiff, transformOp, type DocOp } from './ot.js';
import { Emitter } from './emitter.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { RealtimeError, isRecord } from './errors.js';
import type {
  Change,
  ChangeOperation,
  Comment,
  Conflict,
  ConflictResolutionStrategy,
  Lock,
  WebSocketMessage,
} from './types.js';
import { DEFAULT_REQUEST_TIMEOUT, longTimerClock, systemClock, type Clock, type WebSocketClient } from './websocket-client.js';

/**
 * Real-time sync of entities (an order, a customer, ...) over one
 * WebSocketClient.
 *
 * For each entity it follows, a RealtimeSyncManager keeps the document and
 * its version, replays the changes the server broadcasts on the entity's
 * channel (`order:123`), and asks for what it missed with `sync` whenever a
 * version is skipped and after every reconnect (that one made again with
 * backoff when it fails with a retryable error, see resync). Local changes go out one at
 * a time per entity, each with the version it was written against; they
 * show in the document at once (optimistically) and stay in `localChanges`
 * until the server accepts them. On an operational-transform or manual
 * entity, a change by someone else that arrives
 * while local changes wait is transformed into them as the server would
 * (text positions, list indexes; a change whose target it deleted is
 * dropped and settles with outcome `dropped`): a change not sent yet goes
 * out rebased, against the version that holds the other change, and the
 * one in flight, which the server transforms itself, is only shown
 * transformed. When the one in flight is answered `dropped` before the
 * events of the changes that left nothing of it (the ack names the
 * version it was rebased to), those changes are fetched with a sync
 * while it still waits, so that they reach the next ones past it, once,
 * as when their events come first; if they cannot be, what it moved is
 * moved back in the next ones (see withdraw), which then go out against
 * the version held. When it is applied and its ack names a version past
 * the next one (changes by others came before it, their events not yet),
 * those changes are fetched with a sync while it still waits, tried
 * again a few times (see catchUp): the next ones were written on a
 * document where it applied, and its own change is taken as its own, not
 * carried into them a second time. If they cannot be fetched, what it
 * moved is moved back in the next ones (see withdraw), and its own
 * change, when it comes, is carried into them as another user's, once.
 * A waiting change that edits positions
 * and could not be carried past such changes (a sync answered with the
 * whole document) is rejected with REBASE_FAILED instead of being sent;
 * on a manual entity, so is one whose path holds another value in that
 * document (see markOverwrites).
 *
 * Manual entities differ in one point: the server holds a change back as a
 * conflict when a change after its base changed its path (or left nothing
 * of it), and it counts the sender's own changes too. So a change not sent
 * yet that meets such a change by another user is not sent against the
 * head (the server would apply it over that change, a lost update with no
 * conflict), nor against the version its author saw (a change of the
 * author's own queued before it, applied since, would count as the
 * conflict): it goes out against the version just before the other
 * change, in the form it had then, and the server, which follows it
 * through the changes since, holds it as a conflict with the other user's
 * change. Changes that do not meet one go out rebased against the head,
 * as above. When one of the user's own earlier changes was applied after
 * the other change and touches it too, no base can show the server one
 * and not the other: it is rejected with LOCAL_CONFLICT, not sent (as it
 * is when that base is refused with VERSION_CONFLICT). So is the change
 * in flight when such a change by another user came after the version it
 * was sent against (its event, or the sync that follows) and the server
 * answers VERSION_CONFLICT: sent again at the head, it would overwrite
 * that change with no conflict. A change the
 * server holds back is not in its document: the local changes queued
 * behind it, written on a document where it applied, have the list
 * indexes and text positions it moved moved back before they go out (see
 * withdraw). So do those queued behind a change whose last attempt
 * fails, on either strategy: refused by the server, rejected before it
 * was sent (LOCAL_CONFLICT, REBASE_FAILED, QUEUE_CLEARED), or left with
 * a retryable error once the attempts run out. After a retryable one it
 * may have been applied after all (so may one whose resend is rejected
 * before it was sent, after an attempt that left its outcome open): its
 * event, when it comes, is carried into them as another user's change, so
 * they end up moved once either way. Edit locks are
 * renewed while held and taken again after a reconnect; a change refused because the lock lapsed
 * (a restart of the server releases every lock) takes the lock again and is
 * sent again with its original messageId, so it is applied exactly once.
 *
 * The conflict strategy is the server's, per entity type (orders are
 * lock-based by default); `sync` reports it. Manual conflicts arrive as
 * `conflict` events and are settled with `resolveConflict`.
 */

/** `idle`: not following; `syncing`: catching up; `synced`: current; `offline`: waiting for the connection; `error`: the last sync failed. */
export type SyncState = 'idle' | 'syncing' | 'synced' | 'offline' | 'error';

/** A local change as application code describes it (the seed's `pushChange` argument). */
export interface ChangeInput<T = unknown> {
  entityType?: string;
  entityId?: string;
  operation: ChangeOperation;
  path: string;
  /** Informative: the server records the value it replaced. */
  before?: T;
  /** The new value (insert, update). */
  after?: T;
  /** move: list indexes. */
  from?: number;
  to?: number;
  /** increment: the amount, a number or a decimal string. */
  delta?: number | string;
  /** text: retain / insert / delete components, counted in code points. */
  text?: { retain?: number; insert?: string; delete?: number }[];
  metadata?: Record<string, unknown>;
}

/** Everything known about one followed entity, as one immutable value. */
export interface EntitySyncState<T extends DocumentValue = DocumentValue> {
  readonly entityType: string;
  readonly entityId: string;
  readonly syncState: SyncState;
  readonly syncing: boolean;
  /** Version of the server document this client has (local changes not counted). */
  readonly version: number;
  /** The document with the local changes not yet accepted applied on top. */
  readonly document: T;
  /** The server's conflict strategy for this entity type (null before the first sync). */
  readonly strategy: ConflictResolutionStrategy | null;
  readonly lastSyncedAt: Date | null;
  /** Changes sent (or waiting to be sent) and not yet accepted, oldest first. */
  readonly localChanges: readonly Change[];
  /** Changes by other users received since following began, newest first. */
  readonly remoteChanges: readonly Change[];
  /** Conflicts seen, unresolved first (of the resolved ones, the latest `historyLimit`). */
  readonly conflicts: readonly Conflict[];
  /** Accepted changes, newest first (at most `historyLimit`). */
  readonly changeHistory: readonly Change[];
  readonly lock: Lock | null;
  /** Locked by another user. */
  readonly isLocked: boolean;
  readonly lockedByMe: boolean;
  /**
   * This user's lock that the server reported `expired` (not renewed in
   * time), until the lock is taken again or released; null otherwise. An
   * expired lock is no longer wanted: neither renewed nor taken again after
   * a reconnect (acquireLock, or a write with autoLock, takes it again).
   */
  readonly expiredLock: Lock | null;
  /** Comments, newest first: at most `commentLimit` (the newest ones). */
  readonly comments: readonly Comment[];
  readonly error: RealtimeError | null;
}

export interface RealtimeSyncManagerOptions {
  client: WebSocketClient;
  /** This user's id, to tell own locks and changes apart. Default: the hello ack's. */
  userId?: string;
  /** Taken for the seed's shape and not used: the server takes the name from the connection's token. */
  username?: string;
  /** Lock lifetime asked for (ms): a whole number >= 1 (the server caps it at 5 min). Default 30000; the lock is renewed at half of it while held. */
  lockTtl?: number;
  /** Changes kept in `changeHistory` and `remoteChanges` (loaded from the server in pages of 100), and resolved conflicts in `conflicts`: a whole number >= 1. Default 100. */
  historyLimit?: number;
  /**
   * What to do with a manual conflict that concerns this user: false
   * (default) lists it for a person to settle; `local` or `remote` settles
   * it at once that way, asked once per conflict however often it is
   * reported (a CONFLICT_RESOLVED answer, when it was settled first
   * elsewhere, is taken as settled). After a temporary failure (a retryable
   * error) it is asked again with backoff, 1 s doubling up to 30 s; a
   * refusal (FORBIDDEN, NOT_FOUND, BAD_REQUEST...) is not asked again. The
   * failure shows in the entity's `error` while the conflict stays open.
   */
  autoResolveConflicts?: false | 'local' | 'remote';
  /** Take the entity's lock before a change when the server's strategy is lock-based. Default true. */
  autoLock?: boolean;
  /** Load `history` and `comment.list` when following starts. Default true. */
  loadHistory?: boolean;
  /**
   * Comments kept per entity in `comments` (loaded from the server in pages
   * of 100): the newest ones; an older one is dropped when a newer one
   * comes. A whole number of at least 1. Default 500.
   */
  commentLimit?: number;
  clock?: Clock;
}

export interface PushOptions {
  /** Reject this change instead of taking the lock when it is needed and not held (changes queued with it keep their own options). Default false. */
  noAutoLock?: boolean;
}

/** Ack of `change`, `undo` and `conflict.resolve`. */
export interface ChangeAck {
  entityType: string;
  entityId: string;
  outcome: 'applied' | 'merged' | 'dropped' | 'superseded' | 'unchanged' | 'conflict';
  applied: boolean;
  version: number;
  change?: Change;
  notices?: string[];
  /**
   * Last-write-wins: the concurrent changes since the base version that
   * this write replaced, and their authors.
   */
  overwrote?: Overwritten[];
  conflict?: Conflict;
}

/** A change a last-write-wins write replaced (`ChangeAck.overwrote`). */
export interface Overwritten {
  version: number;
  userId: string;
  path: string;
}

interface SyncAck {
  strategy: ConflictResolutionStrategy;
  version: number;
  snapshot: boolean;
  document?: DocumentValue;
  changes: Change[];
  hasMore: boolean;
  nextSinceVersion: number;
  conflicts: Conflict[];
  /** Set when more unresolved conflicts remain than fit in this reply. */
  conflictsNextCursor?: string;
  lock: Lock | null;
}

interface HistoryAck {
  version: number;
  changes: Change[];
  hasMore?: boolean;
  nextBefore?: number;
}

/** The most changes one `history` request may ask for (the server refuses more). */
const HISTORY_PAGE_LIMIT = 100;
/** The most `history` pages one loadHistory reads. */
const HISTORY_MAX_PAGES = 20;

/** The most comments one `comment.list` request may ask for (the server refuses more). */
const COMMENT_PAGE_LIMIT = 100;
/** Comments kept per entity unless `commentLimit` says otherwise: five full pages. */
const DEFAULT_COMMENT_LIMIT = 500;
/** The most syncs catchUp makes for the versions an ack skipped before it gives up. */
const CATCH_UP_ATTEMPTS = 8;
/** Waits between attempts after temporary failures: automatic resolves of one conflict, the syncs of catchUp. */
const RETRY_BACKOFF: BackoffOptions = { reconnectInterval: 1000, maxReconnectInterval: 30_000, reconnectDecay: 2 };
/**
 * The most `comment.list` pages one loadComments reads. A page is cut at
 * 124 KiB too, so one may hold fewer than 100 comments (at least 4 of the
 * largest).
 */
const COMMENT_MAX_PAGES = 50;

interface CommentListAck {
  comments: Comment[];
  /** Continues the listing; absent or `""` on the last page. */
  nextCursor?: string;
}

interface Pending {
  change: Change;
  /** What the optimistic document replays (move, increment and text need more than `after`). */
  local: LocalChange;
  payload: Record<string, unknown>;
  /**
   * An update or insert whose missing parent objects are still to be
   * created in the same change: decided once, when it is first sent.
   */
  lift: boolean;
  /** The options of its pushChange. */
  options: PushOptions;
  messageId: string;
  attempts: number;
  /**
   * The server's document already holds it (its own change event came
   * before its ack): the optimistic document no longer replays it.
   */
  applied: boolean;
  /**
   * It went out at least once: its payload is frozen (a resend must ask
   * for the same change) and the server transforms it past the changes
   * since `sentBase`, the baseVersion it is sent with.
   */
  sent: boolean;
  sentBase: number;
  /**
   * An attempt ended without telling whether the server applied it (see
   * outcomeUnknown): a later attempt refused for a reason of its own
   * (RATE_LIMITED...) leaves that open.
   */
  maybeApplied: boolean;
  /**
   * Not sent, and left without effect by rebasing past another change (the
   * notices say why): it settles as `dropped` without being sent.
   */
  dropped: string[] | null;
  /**
   * The server will not apply it, so it is not replayed: sent, and a
   * concurrent change removed its target (the server drops it); or, on a
   * manual entity, not sent and `held` by such a change (the server holds
   * it back as a conflict).
   */
  localDropped: boolean;
  /**
   * Manual entities, not sent yet: it met a change by another user that
   * the server's manual rule holds it back against (one that changed its
   * path, or left nothing of it). It goes out against `base`, the version
   * just before that change, in the form it had then (`op`), so that the
   * server sees the other change and holds it as a conflict: rebased and
   * sent at the head, it would overwrite that change with no conflict.
   * `blocked`: one of this user's own changes, queued before it and
   * applied after `base`, touches it (its path, or a list index on it):
   * the server would report it as a conflict with the user's own change,
   * or move it twice, so it is refused with LOCAL_CONFLICT instead, unless
   * a later change by another user holds it again (from a base after that
   * own change). `prior`: the user's changes before it that `op` was
   * written on top of (waiting then, not yet applied), each in the form it
   * had then, and whether it showed in that document (a move out of
   * bounds does not apply): one the server then holds back as a conflict,
   * or refuses, is taken out of `op` if it showed (see withdraw). Sent (in
   * flight): a change by another user after `sentBase` that the server's
   * rule holds it back against (only `remote` counts): if the server
   * answers VERSION_CONFLICT instead, it is refused with LOCAL_CONFLICT,
   * not sent again at the head over that change.
   */
  held: { base: number; op: DocOp; remote: Change; blocked: boolean; prior: Prior[] } | null;
  /**
   * Changes reached the document that it could not be rebased past (a
   * whole-document sync): its positions are unreliable. Not sent: it is
   * refused with REBASE_FAILED; sent: so is its resend after
   * VERSION_CONFLICT.
   */
  stale: boolean;
  /**
   * Manual entities, stale: the whole document holds another value at its
   * path than the one it was written on and the server's before (see
   * markOverwrites). Someone changed it among changes the server no longer
   * keeps, so it cannot be held as a conflict with them: it is refused as
   * a stale change with positions is, not sent at the head over them.
   */
  overwrites: boolean;
  resolve: (c: Change) => void;
  reject: (e: RealtimeError) => void;
}

/**
 * A change of the user's queued before a held one (Pending.held.prior):
 * its form before the other user's change, and whether that form showed
 * in the document the held form was written on.
 */
interface Prior {
  p: Pending;
  op: DocOp;
  shown: boolean;
}

interface Entry {
  type: string;
  id: string;
  channel: string;
  refs: number;
  version: number;
  serverDoc: DocumentValue;
  strategy: ConflictResolutionStrategy | null;
  syncState: SyncState;
  lastSyncedAt: Date | null;
  pending: Pending[];
  sending: boolean;
  /** The local change being sent (settled by its reply), or null. */
  inFlight: Pending | null;
  remote: Change[];
  history: Change[];
  conflicts: Map<string, Conflict>;
  /**
   * Conflicts autoResolveConflicts does not ask to resolve now, however
   * often they are seen: asked (in flight or answered), refused for good,
   * or waiting for the backoff after a temporary failure.
   */
  autoResolved: Set<string>;
  /** Temporary failures of autoResolveConflicts per conflict: how many, and the timer of the next attempt. */
  autoRetries: Map<string, { attempts: number; timer: unknown }>;
  /** The latest failure of autoResolveConflicts per open conflict (shows in `error`), the newest last. */
  autoErrors: Map<string, RealtimeError>;
  lock: Lock | null;
  /** This client wants to hold the lock (re-taken after reconnects). */
  wantLock: boolean;
  /**
   * acquireLock started following the entity (not followed then): it is let
   * go once the lock is neither held, wanted nor asked for, unless a
   * startSync took the follow over.
   */
  lockFollow: boolean;
  /** acquireLock requests in flight. */
  lockAsks: number;
  /**
   * The messageIds of the lock.acquire requests writes sent for
   * themselves (autoLock) and not yet answered: stopSync withdraws those
   * still waiting in the client (made offline), as it does the change.
   */
  writeAsks: Set<string>;
  /** The latest grant a write took by itself (autoLock), not an acquireLock call; null for none. */
  writeGrant: Lock | null;
  /** Counts releaseLock and stopSync calls: a lock reply to a request sent before the latest of them is not taken as held. */
  lockReleases: number;
  renewTimer: unknown;
  /** Timer of the next re-take of the lock after a reconnect whose re-take failed with a retryable error; null for none. */
  retakeTimer: unknown;
  /** A refusal of that re-take that ended the wish (shows in `error` until the lock is taken or released). */
  lockError: RealtimeError | null;
  /** Timer of the next attempt of the catch-up sync after a reconnect, which failed with a retryable error (see resync); null for none. */
  resyncTimer: unknown;
  /** Failures in a row of that sync on this connection: the backoff's attempt. */
  resyncFailures: number;
  /** This user's lock whose expiry an event announced, until the lock is taken again or released. */
  expiredLock: Lock | null;
  comments: Map<string, Comment>;
  /** The highest version seen of each comment shown (copies with a version; see fresherComments). */
  commentVersions: Map<string, number>;
  /**
   * Counts comment news (events, and the acks of comment.add and
   * comment.resolve): a reply without a version to a request sent before
   * a comment's latest news is older than that news (see fresherComments).
   */
  commentSeq: number;
  /** The number of the latest news of each comment shown. */
  commentNews: Map<string, number>;
  error: RealtimeError | null;
  syncRunning: boolean;
  syncAgain: boolean;
  /** Called when the sync under way ends (with its error, null when it succeeded), or when the entity is no longer followed (null). */
  syncWaiters: ((error: RealtimeError | null) => void)[];
  /** Called when the entity is no longer followed (waits for the connection). */
  unfollowWaiters: Set<() => void>;
  /** Counts lock news (events, replies): a sync reply older than the latest news keeps its hands off the lock. */
  lockSeq: number;
  /** The highest fencing token whose release or expiry an event announced (0: none). */
  lockEnded: number;
  offs: (() => void)[];
  /** Lets go of the entity's channel (see WebSocketClient.retain). */
  release: () => void;
  state: EntitySyncState;
}

export interface RealtimeSyncManagerEvents {
  /** An entity's state changed; `key` is `type:id`. */
  change: { key: string; state: EntitySyncState };
  /** A change by another user was applied. */
  'remote-change': Change;
  conflict: Conflict;
}

/** The channel of an entity, e.g. `order:123`. */
export function entityChannel(entityType: string, entityId: string): string {
  return `${entityType}:${entityId}`;
}

const LOCK_ERRORS = new Set(['LOCK_REQUIRED', 'STALE_FENCING_TOKEN', 'NOT_LOCK_HOLDER']);

/**
 * Refusals of a change that the SDK decides before it goes out: the server
 * never sees that attempt, so they say nothing of an earlier one.
 */
const UNSENT_REFUSALS = new Set(['LOCAL_CONFLICT', 'REBASE_FAILED', 'QUEUE_CLEARED']);

/**
 * Whether `re`, the end of a request that was sent, leaves open whether the
 * server applied it: no reply (TIMEOUT), a drop before the reply
 * (DISCONNECTED in flight), or a server failure (UNAVAILABLE, INTERNAL).
 * The other errors, RATE_LIMITED and LOCK_HELD included, say it was not.
 */
function outcomeUnknown(re: RealtimeError): boolean {
  if (re.code === 'DISCONNECTED') return re.details?.['inFlight'] === true;
  return re.code === 'TIMEOUT' || re.code === 'UNAVAILABLE' || re.code === 'INTERNAL';
}

/** A lock's fencing token, when it carries a valid one. */
function fencingTokenOf(lock: Lock | null): number | undefined {
  const t: unknown = lock?.fencingToken;
  return typeof t === 'number' && Number.isSafeInteger(t) ? t : undefined;
}

function toError(err: unknown): RealtimeError {
  if (err instanceof RealtimeError) return err;
  return new RealtimeError({ code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), cause: err });
}

/**
 * A numeric option: a whole number >= 1 (and at most 2^53 - 1). NaN, a
 * fraction, a negative number or Infinity would page history with limits
 * the server refuses, cut lists at odd places, or renew a lock at once
 * again and again (a NaN wait).
 */
function wholeOption(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    const got = typeof value === 'number' ? String(value) : `a ${typeof value}`;
    throw new TypeError(`RealtimeSyncManager: option ${name} must be a whole number >= 1 (got ${got})`);
  }
  return value;
}

function clientDestroyedError(): RealtimeError {
  return new RealtimeError({ code: 'CLIENT_DESTROYED', message: 'the client was destroyed' });
}

/** A comment's version: a whole number >= 1, or undefined (a server before comment versions). */
function commentVersion(c: Comment): number | undefined {
  const v: unknown = c.version;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : undefined;
}

/**
 * The copies in `cs` newer than what `e` shows. A copy with a version is
 * newer when its version is above the highest seen of that comment (the
 * same version is the same state): events, replies and pages arrive in
 * any order. A copy without one, or of a comment seen only without one,
 * comes from a server before comment versions, whose events came in the
 * order of the changes they announce: a reply to a request sent when
 * `e.commentSeq` was `askedAt` is taken unless news of the comment came
 * since (the reply may have been read before the change the news
 * announces); an event (`askedAt` Infinity) always is.
 */
function fresherComments(e: Entry, cs: readonly Comment[], askedAt: number): Comment[] {
  return cs.filter((c) => {
    const v = commentVersion(c);
    const seen = e.commentVersions.get(c.id);
    if (v !== undefined && seen !== undefined) return v > seen;
    return (e.commentNews.get(c.id) ?? 0) <= askedAt;
  });
}

/** Ends every wait of a change of `e`, which is no longer followed: each finds it so and settles. */
function wake(e: Entry): void {
  for (const w of e.syncWaiters.splice(0)) w(null);
  for (const w of [...e.unfollowWaiters]) w();
}

function notFollowing(e: Entry, maybeApplied = false): RealtimeError {
  if (maybeApplied) {
    const message = `stopSync(${e.type}, ${e.id}) before the change was sent again; an earlier attempt may have been applied`;
    return new RealtimeError({ code: 'NOT_FOLLOWING', message, retryable: false, details: { maybeApplied: true } });
  }
  return new RealtimeError({ code: 'NOT_FOLLOWING', message: `stopSync(${e.type}, ${e.id}) before the change was sent`, retryable: false });
}

function emptyState(type: string, id: string): EntitySyncState {
  return {
    entityType: type,
    entityId: id,
    syncState: 'idle',
    syncing: false,
    version: 0,
    document: {},
    strategy: null,
    lastSyncedAt: null,
    localChanges: [],
    remoteChanges: [],
    conflicts: [],
    changeHistory: [],
    lock: null,
    isLocked: false,
    lockedByMe: false,
    expiredLock: null,
    comments: [],
    error: null,
  };
}

/** How each manager reads the latest write grant of an entity (by channel): see lockTakenByWrite. */
const writeGrants = new WeakMap<RealtimeSyncManager, (channel: string) => Lock | null>();

/**
 * The latest lock a write to the entity (a change, conflict.resolve or
 * undo of a lock-based entity) took by itself, or null: not one taken with
 * acquireLock. The React hooks tell with it a lock their write took from
 * one another hook took meanwhile. Internal to the package (the index does
 * not export it): what counts as a write's grant is the hooks' concern.
 */
export function lockTakenByWrite(m: RealtimeSyncManager, entityType: string, entityId: string): Lock | null {
  return writeGrants.get(m)?.(entityChannel(entityType, entityId)) ?? null;
}

export class RealtimeSyncManager {
  private readonly client: WebSocketClient;
  private readonly clock: Clock;
  private readonly emitter = new Emitter<RealtimeSyncManagerEvents>();
  private readonly entries = new Map<string, Entry>();
  /**
   * The idle states of entities not followed that something subscribes
   * to: getState hands out the same object until it changes, as
   * useSyncExternalStore needs.
   */
  private readonly idle = new Map<string, EntitySyncState>();
  /**
   * The idle state last handed out for an entity neither followed nor
   * subscribed to: useSyncExternalStore reads it before it subscribes (and
   * takes it into `idle` then). One at a time, not one per entity asked for.
   */
  private lastIdle: { key: string; state: EntitySyncState } | null = null;
  /** How many subscribeEntity listeners each entity has. */
  private readonly watchers = new Map<string, number>();
  /**
   * The lock.release in flight of each entity, followed or not (a
   * releaseLock's, the last stopSync's, or that of a grant that came after
   * stopSync), until it is answered: it lets go of every grant asked for
   * before it, so a releaseLock or stopSync meanwhile sends none of its own.
   * A lock belongs to the user, not to the connection, and a release
   * carries no fencing token: a second release, landing after a grant this
   * user got meanwhile (another tab), would let that go. For the same
   * reason no lock.acquire of the entity goes out before it is answered
   * (see releasesAnswered).
   */
  private readonly releases = new Map<string, Promise<void>>();
  private readonly opts: Required<Omit<RealtimeSyncManagerOptions, 'client' | 'clock' | 'userId' | 'username'>>;
  private readonly selfId: string | undefined;
  private offs: (() => void)[] = [];
  private seq = 0;
  /** The client was destroyed: nothing can be sent any more. */
  private clientDestroyed = false;

  constructor(options: RealtimeSyncManagerOptions) {
    this.client = options.client;
    // A lock's renewal waits half of lockTtl, which may pass 2^31 - 1 ms,
    // where a bare setTimeout fires at once.
    this.clock = longTimerClock(options.clock ?? systemClock);
    this.selfId = options.userId;
    this.opts = {
      lockTtl: wholeOption('lockTtl', options.lockTtl ?? 30_000),
      historyLimit: wholeOption('historyLimit', options.historyLimit ?? 100),
      autoResolveConflicts: options.autoResolveConflicts ?? false,
      autoLock: options.autoLock ?? true,
      loadHistory: options.loadHistory ?? true,
      commentLimit: wholeOption('commentLimit', options.commentLimit ?? DEFAULT_COMMENT_LIMIT),
    };
    this.offs.push(
      this.client.on('ready', () => this.onReady()),
      this.client.on('close', () => this.onClose()),
      this.client.on('destroy', () => {
        this.clientDestroyed = true;
      }),
    );
    writeGrants.set(this, (channel) => this.entries.get(channel)?.writeGrant ?? null);
  }

  /** This user's id: the server's from the hello ack, or the option. */
  get userId(): string | undefined {
    return this.client.session?.userId ?? this.selfId;
  }

  on<K extends keyof RealtimeSyncManagerEvents>(event: K, listener: (e: RealtimeSyncManagerEvents[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Calls `listener` whenever the state of `type:id` changes (for useSyncExternalStore). */
  subscribeEntity(entityType: string, entityId: string, listener: () => void): () => void {
    const key = entityChannel(entityType, entityId);
    this.watchers.set(key, (this.watchers.get(key) ?? 0) + 1);
    if (this.lastIdle?.key === key) {
      this.idle.set(key, this.lastIdle.state);
      this.lastIdle = null;
    }
    const off = this.emitter.on('change', (e) => {
      if (e.key === key) listener();
    });
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      off();
      const n = (this.watchers.get(key) ?? 1) - 1;
      if (n > 0) {
        this.watchers.set(key, n);
        return;
      }
      // No one looks at it any more: its idle state goes.
      this.watchers.delete(key);
      this.idle.delete(key);
    };
  }

  /**
   * The current state of an entity; an idle state when it is not followed.
   * The same object until it changes (an idle one while something
   * subscribes to the entity, or until another entity's idle state is
   * asked for: one is not kept for every entity ever followed).
   */
  getState<T extends DocumentValue = DocumentValue>(entityType: string, entityId: string): EntitySyncState<T> {
    const key = entityChannel(entityType, entityId);
    const e = this.entries.get(key);
    if (e !== undefined) return e.state as EntitySyncState<T>;
    let s = this.idle.get(key);
    if (s !== undefined) return s as EntitySyncState<T>;
    s = this.lastIdle?.key === key ? this.lastIdle.state : emptyState(entityType, entityId);
    if (this.watchers.has(key)) {
      this.idle.set(key, s);
      if (this.lastIdle?.key === key) this.lastIdle = null;
    } else {
      this.lastIdle = { key, state: s };
    }
    return s as EntitySyncState<T>;
  }

  /** Forgets the idle state of `key` (followed now, or changed). */
  private dropIdle(key: string): void {
    this.idle.delete(key);
    if (this.lastIdle?.key === key) this.lastIdle = null;
  }

  /** Entities followed now. */
  get entities(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Starts following an entity (reference-counted: each call needs a
   * `stopSync`). Resolves once the first sync is done.
   */
  startSync(entityType: string, entityId: string): Promise<EntitySyncState> {
    const key = entityChannel(entityType, entityId);
    let e = this.entries.get(key);
    if (e !== undefined) {
      // A follow acquireLock started for its lock becomes this caller's.
      if (e.lockFollow) e.lockFollow = false;
      else e.refs++;
      return e.lastSyncedAt !== null ? Promise.resolve(e.state) : this.sync(entityType, entityId);
    }
    e = {
      type: entityType,
      id: entityId,
      channel: key,
      refs: 1,
      version: 0,
      serverDoc: {},
      strategy: null,
      syncState: 'syncing',
      lastSyncedAt: null,
      pending: [],
      sending: false,
      inFlight: null,
      remote: [],
      history: [],
      conflicts: new Map(),
      autoResolved: new Set(),
      autoRetries: new Map(),
      autoErrors: new Map(),
      lock: null,
      wantLock: false,
      lockFollow: false,
      lockAsks: 0,
      writeAsks: new Set(),
      writeGrant: null,
      lockReleases: 0,
      renewTimer: null,
      retakeTimer: null,
      lockError: null,
      resyncTimer: null,
      resyncFailures: 0,
      expiredLock: null,
      comments: new Map(),
      commentVersions: new Map(),
      commentSeq: 0,
      commentNews: new Map(),
      error: null,
      syncRunning: false,
      syncAgain: false,
      syncWaiters: [],
      unfollowWaiters: new Set(),
      lockSeq: 0,
      lockEnded: 0,
      offs: [],
      release: this.client.retain(key),
      state: emptyState(entityType, entityId),
    };
    this.entries.set(key, e);
    this.dropIdle(key);
    const entry = e;
    entry.offs.push(this.client.onChannel(key, (m) => this.onFrame(entry, m)));
    // The first sync runs once the subscription is confirmed: a change
    // accepted between a sync and the subscription taking effect would
    // reach neither (the server may handle the two requests in any order).
    // A refused subscribe still syncs once, so the state shows the
    // document, and keeps the subscribe's error (live updates will not come).
    const subscribed = this.client.subscribe(key).then(
      () => null,
      (err: unknown) => toError(err),
    );
    this.update(entry);
    const first = subscribed.then(async (refused) => {
      if (this.entries.get(key) !== entry) return this.getState(entityType, entityId);
      const state = await this.sync(entityType, entityId);
      if (refused === null || this.entries.get(key) !== entry) return state;
      this.setError(entry, refused);
      return entry.state;
    });
    if (this.opts.loadHistory) {
      void this.loadHistory(entityType, entityId);
      void this.loadComments(entityType, entityId);
    }
    return first;
  }

  /**
   * Stops following (the last reference releases a held lock and lets go of
   * the channel, which stays subscribed while a hook or another user of the
   * client holds it). The last reference also rejects the local changes not
   * sent yet with NOT_FOLLOWING (one waiting for a sync under way too, one
   * still in the client's queue, never written, and one waiting for the
   * lock, whose lock.acquire still in the queue is withdrawn); the one in flight
   * settles with its reply, and is not sent again (one waiting to be sent
   * again settles with the error it last got).
   */
  stopSync(entityType: string, entityId: string): void {
    const key = entityChannel(entityType, entityId);
    const e = this.entries.get(key);
    if (e === undefined || --e.refs > 0) return;
    this.entries.delete(key);
    for (const off of e.offs) off();
    this.stopRenewing(e);
    this.stopRetaking(e);
    this.stopResyncing(e);
    for (const r of e.autoRetries.values()) if (r.timer !== null) this.clock.clearTimeout(r.timer);
    e.lockReleases++;
    // The change in flight is settled by its reply, or stops at its next
    // attempt; the others are never sent.
    const unsent = e.pending.filter((p) => p !== e.inFlight);
    e.pending = e.pending.filter((p) => p === e.inFlight);
    for (const p of unsent) p.reject(notFollowing(e));
    // The one in flight may not have left the client yet (queued while
    // offline): withdrawn, it is never sent and rejects with NOT_FOLLOWING.
    if (e.inFlight !== null) this.client.cancel(e.inFlight.messageId, notFollowing(e, e.inFlight.maybeApplied));
    // So may the lock.acquire a write waits for (the lock was not held when
    // the connection dropped): withdrawn, the write rejects with
    // NOT_FOLLOWING and no lock is taken for it. An acquireLock of the
    // application's is not withdrawn.
    for (const id of [...e.writeAsks]) this.client.cancel(id, notFollowing(e));
    // The one in flight may be waiting for a sync or for the connection:
    // woken, it finds the entity no longer followed and settles.
    wake(e);
    // Not while a release is in flight: it lets the lock go.
    if ((e.wantLock || this.heldByMe(e)) && !this.releases.has(key)) {
      e.wantLock = false;
      const sent = this.sendRelease(entityType, entityId, { queue: false });
      sent.catch(() => {});
      // Not one that cannot be written (no connection): a releaseLock
      // after it sends its own, which waits for the next connection.
      if (this.client.connected) this.keepRelease(key, sent);
    }
    e.release();
    this.dropIdle(key);
    this.emitter.emit('change', { key, state: this.getState(entityType, entityId) });
  }

  /** Catches up with the server: the changes after our version, or the whole document. */
  sync(entityType: string, entityId: string): Promise<EntitySyncState> {
    const e = this.entries.get(entityChannel(entityType, entityId));
    if (e === undefined) return Promise.resolve(this.getState(entityType, entityId));
    return this.runSync(e).then((r) => r.state);
  }

  /**
   * Sends a change. It shows in the document at once and goes out after the
   * entity's earlier local changes. Resolves with the change as the server
   * accepted it (with its version), or, when it became a manual conflict,
   * with the local side of the conflict (`resolved: false`). Rejects with
   * CLIENT_DESTROYED, as every change still waiting does (for a sync, for
   * the connection, or behind another change), once the client is
   * destroyed, and with NOT_FOLLOWING when stopSync or destroy stops
   * following the entity before it was sent.
   */
  pushChange<T = unknown>(input: ChangeInput<T> & { entityType: string; entityId: string }, options: PushOptions = {}): Promise<Change> {
    const e = this.entries.get(entityChannel(input.entityType, input.entityId));
    if (e === undefined) {
      return Promise.reject(
        new RealtimeError({ code: 'BAD_REQUEST', message: `startSync(${input.entityType}, ${input.entityId}) first` }),
      );
    }
    const payload: Record<string, unknown> = {
      entityType: e.type,
      entityId: e.id,
      operation: input.operation,
      path: input.path,
    };
    if (input.before !== undefined) payload['before'] = input.before;
    if (input.after !== undefined) payload['after'] = input.after;
    if (input.from !== undefined) payload['from'] = input.from;
    if (input.to !== undefined) payload['to'] = input.to;
    if (input.delta !== undefined) payload['delta'] = String(input.delta);
    if (input.text !== undefined) payload['text'] = input.text;
    if (input.metadata !== undefined) payload['metadata'] = input.metadata;
    const change: Change = {
      id: `local-${++this.seq}`,
      entityId: e.id,
      entityType: e.type,
      userId: this.userId ?? '',
      operation: input.operation,
      path: input.path,
      before: input.before,
      after: input.after,
      timestamp: new Date(this.clock.now()).toISOString(),
      resolved: false,
      version: 0,
    };
    if (input.metadata !== undefined) change.metadata = input.metadata;
    return new Promise<Change>((resolve, reject) => {
      e.pending.push({
        change,
        local: {
          operation: input.operation,
          path: input.path,
          after: input.after,
          from: input.from,
          to: input.to,
          delta: input.delta,
          text: input.text,
        },
        payload,
        lift: input.operation === 'update' || input.operation === 'insert',
        options,
        messageId: `chg-${this.clock.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}-${this.seq}`,
        attempts: 0,
        applied: false,
        sent: false,
        sentBase: 0,
        maybeApplied: false,
        dropped: null,
        localDropped: false,
        held: null,
        stale: false,
        overwrites: false,
        resolve,
        reject,
      });
      this.update(e);
      void this.pump(e);
    });
  }

  /**
   * Takes the entity's edit lock. Resolves with the lock, or null when another
   * user holds it. An entity not followed is followed for the lock (so the
   * lock shows in its state, is renewed and taken again after a reconnect)
   * until it is neither held nor wanted any more (releaseLock, a refusal, a
   * release from another tab) and not shown as expired (an expired lock
   * stays in expiredLock until releaseLock or a grant), unless a startSync takes that follow over:
   * then the entity's last stopSync ends it, as for any lock. When stopSync let go of the entity while the request was in flight, a
   * lock granted afterwards is released at once (no one is left to renew or
   * release it) and the result is null. When releaseLock was called while it
   * was in flight, the grant is not kept either (the release, sent after it,
   * lets it go) and the result is null. Its lock.acquire goes out only once
   * the entity's lock.release in flight (of releaseLock or stopSync) is
   * answered, as does a write's (autoLock) and a re-take's: the server may
   * run a connection's messages in any order, and that release, run after
   * the grant, would let the grant go. A releaseLock or stopSync meanwhile
   * makes it resolve with null, sending nothing.
   */
  acquireLock(entityType: string, entityId: string): Promise<Lock | null> {
    return this.takeLock(entityType, entityId);
  }

  /** acquireLock, with `messageId` for its lock.acquire when given (see ensureLock). */
  private async takeLock(entityType: string, entityId: string, messageId?: string): Promise<Lock | null> {
    const key = entityChannel(entityType, entityId);
    let e = this.entries.get(key);
    if (e === undefined) {
      this.startSync(entityType, entityId).catch(() => {});
      e = this.entries.get(key) as Entry;
      e.lockFollow = true;
    }
    const releases = e.lockReleases;
    e.lockAsks++;
    try {
      if (this.releases.has(key)) {
        await this.releasesAnswered(key);
        // Released or let go of meanwhile: nothing is asked for.
        if (this.entries.get(key) !== e || e.lockReleases !== releases) return null;
      }
      const ack = await this.client.request<'lock.acquire', { lock: Lock }>(
        'lock.acquire',
        { payload: { entityType, entityId, ttl: this.opts.lockTtl } },
        messageId === undefined ? {} : { messageId },
      );
      if (this.entries.get(key) !== e) {
        const sent = this.sendRelease(entityType, entityId, { queue: false });
        sent.catch(() => {});
        this.keepRelease(key, sent);
        return null;
      }
      if (e.lockReleases !== releases) return null;
      e.wantLock = true;
      this.setLock(e, ack.lock);
      return ack.lock;
    } catch (err) {
      const re = toError(err);
      if (re.code === 'LOCK_HELD') {
        if (isRecord(re.details) && isRecord(re.details['lock'])) this.setLock(e, re.details['lock'] as unknown as Lock);
        return null;
      }
      // Not on an entity let go of (stopSync withdrew a write's request).
      if (this.entries.get(key) === e) this.setError(e, re);
      throw re;
    } finally {
      e.lockAsks--;
      this.endLockFollow(e);
    }
  }

  /**
   * Releases the lock if this user holds it. A lock.release in flight (of
   * another releaseLock, or of the stopSync that let go of the entity) is
   * waited for instead of sending one more; when it fails (the stopSync's
   * is not resent: its connection dropped before the reply), this sends its
   * own, queued and resent.
   */
  async releaseLock(entityType: string, entityId: string): Promise<void> {
    const key = entityChannel(entityType, entityId);
    const e = this.entries.get(key);
    if (e !== undefined) {
      e.wantLock = false;
      e.lockReleases++;
      this.stopRenewing(e);
      this.stopRetaking(e);
      const shown = e.lockError !== null || e.expiredLock !== null;
      e.lockError = null;
      e.expiredLock = null;
      if (shown) this.update(e);
    }
    // One in flight already is waited for, not sent again.
    const waited = this.releases.get(key);
    await (waited === undefined
      ? this.newRelease(entityType, entityId)
      : waited.catch(() => this.releases.get(key) ?? this.newRelease(entityType, entityId)));
    if (e !== undefined && this.heldByMe(e)) this.setLock(e, null);
    if (e !== undefined) this.endLockFollow(e);
  }

  /** Sends a lock.release, queued, as the entity's release in flight. */
  private newRelease(entityType: string, entityId: string): Promise<void> {
    const sent = this.sendRelease(entityType, entityId, {});
    this.keepRelease(entityChannel(entityType, entityId), sent);
    return sent;
  }

  /**
   * Sends a lock.release; NOT_LOCK_HOLDER (nothing to release) counts as
   * released. The acquires of the entity wait for it (see releases), so
   * with no reply timeout (requestTimeout 0) it waits for its reply at
   * most the default one: a reply lost (an error frame that names no
   * request, as API Gateway sends for a failed invocation) would hold them
   * until the release was sent again on the next connection, where it
   * could let go of a grant they got meanwhile.
   */
  private sendRelease(entityType: string, entityId: string, options: { queue?: boolean }): Promise<void> {
    const timeout = this.client.requestTimeout > 0 ? {} : { timeout: DEFAULT_REQUEST_TIMEOUT };
    return this.client.request('lock.release', { payload: { entityType, entityId } }, { ...options, ...timeout }).then(
      () => undefined,
      (err: unknown) => {
        const re = toError(err);
        if (re.code !== 'NOT_LOCK_HOLDER') throw re;
      },
    );
  }

  /**
   * Makes `sent` the entity's release in flight until it is answered (see
   * releases), and the one before it too when that is still in flight.
   */
  private keepRelease(key: string, sent: Promise<void>): void {
    const before = this.releases.get(key);
    const kept = before === undefined ? sent : before.then(() => sent, () => sent);
    this.releases.set(key, kept);
    const answered = (): void => {
      if (this.releases.get(key) === kept) this.releases.delete(key);
    };
    kept.then(answered, answered);
  }

  /**
   * Resolves once the entity has no lock.release in flight (answered, or
   * failed: on a lost connection, once it is no longer kept). A lock.acquire
   * waits for it: the server runs a connection's messages in any order, and
   * a release run after the grant would let the grant go.
   */
  private async releasesAnswered(key: string): Promise<void> {
    for (let r = this.releases.get(key); r !== undefined; r = this.releases.get(key)) await r.catch(() => {});
  }

  /**
   * Lets go of an entity followed only for its lock once the lock is
   * neither held, wanted nor asked for (checked after the current task, as
   * a grant or a release may still be on its way to the entry), nor shown
   * as expired: an expired lock stays in the state until releaseLock or a
   * grant clears it, and they end the follow then.
   */
  private endLockFollow(e: Entry): void {
    if (!e.lockFollow) return;
    queueMicrotask(() => {
      if (!e.lockFollow || this.entries.get(e.channel) !== e) return;
      if (e.lockAsks > 0 || e.wantLock || this.heldByMe(e) || e.expiredLock !== null) return;
      e.lockFollow = false;
      this.stopSync(e.type, e.id);
    });
  }

  /** Settles a manual conflict: keep the local value, the remote one, or a merged value. */
  async resolveConflict(
    conflictId: string,
    resolution: 'local' | 'remote' | 'merged',
    mergedValue?: unknown,
  ): Promise<ChangeAck> {
    const e = [...this.entries.values()].find((x) => x.conflicts.has(conflictId));
    if (e === undefined) throw new RealtimeError({ code: 'NOT_FOUND', message: `no conflict ${conflictId}` });
    const payload: Record<string, unknown> = { entityType: e.type, entityId: e.id, conflictId, resolution };
    if (resolution === 'merged') payload['mergedValue'] = mergedValue ?? null;
    let ack: ChangeAck;
    try {
      ack = await this.writeWithLock<ChangeAck>(e, 'conflict.resolve', payload);
    } catch (err) {
      const re = toError(err);
      // Settled already: the conflict as it was settled comes with the
      // refusal; show it resolved.
      if (re.code === 'CONFLICT_RESOLVED' && isRecord(re.details) && isRecord(re.details['conflict'])) {
        this.putConflict(e, re.details['conflict'] as unknown as Conflict);
      }
      throw re;
    }
    if (ack.conflict !== undefined) this.putConflict(e, ack.conflict);
    if (ack.change !== undefined) this.ingest(e, ack.change);
    return ack;
  }

  /** Undoes an earlier change (by id, e.g. `order:123:7`) with a new version. */
  async undoChange(changeId: string): Promise<ChangeAck> {
    const [type, id] = changeId.split(':');
    const e = this.entries.get(entityChannel(type ?? '', id ?? ''));
    if (e === undefined) throw new RealtimeError({ code: 'NOT_FOUND', message: `not following the entity of ${changeId}` });
    const ack = await this.writeWithLock<ChangeAck>(e, 'undo', { entityType: e.type, entityId: e.id, changeId });
    if (ack.change !== undefined) this.ingest(e, ack.change);
    return ack;
  }

  /** Loads the change history kept by the server (newest first). */
  async loadHistory(entityType: string, entityId: string): Promise<readonly Change[]> {
    const e = this.entries.get(entityChannel(entityType, entityId));
    if (e === undefined) return [];
    try {
      // Pages of at most HISTORY_PAGE_LIMIT (a larger limit is refused
      // with BAD_REQUEST), newest first, until historyLimit changes or the
      // oldest one kept.
      const changes: Change[] = [];
      let before: number | undefined;
      for (let page = 0; page < HISTORY_MAX_PAGES && changes.length < this.opts.historyLimit; page++) {
        const payload: Record<string, unknown> = {
          entityType,
          entityId,
          limit: Math.min(HISTORY_PAGE_LIMIT, this.opts.historyLimit - changes.length),
        };
        if (before !== undefined) payload['before'] = before;
        const ack = await this.client.request<'history', HistoryAck>('history', { payload });
        changes.push(...ack.changes);
        if (ack.hasMore !== true || typeof ack.nextBefore !== 'number' || ack.nextBefore === before) break;
        before = ack.nextBefore;
      }
      const known = new Set(e.history.map((c) => c.version));
      e.history = [...e.history, ...changes.filter((c) => !known.has(c.version))]
        .sort((a, b) => b.version - a.version)
        .slice(0, this.opts.historyLimit);
      this.update(e);
    } catch (err) {
      this.setError(e, err);
    }
    return e.history;
  }

  /**
   * Loads the entity's comments (newest first): pages of `comment.list`,
   * following `nextCursor`, until `commentLimit` comments or the last page
   * (at most COMMENT_MAX_PAGES pages). A page's copy of a comment is
   * taken only if it is newer than the one shown (see fresherComments).
   */
  async loadComments(entityType: string, entityId: string): Promise<readonly Comment[]> {
    const e = this.entries.get(entityChannel(entityType, entityId));
    if (e === undefined) return [];
    const limit = this.opts.commentLimit;
    try {
      const pages: { askedAt: number; comments: readonly Comment[] }[] = [];
      let read = 0;
      let cursor: string | undefined;
      for (let page = 0; page < COMMENT_MAX_PAGES && read < limit; page++) {
        const payload: Record<string, unknown> = {
          entityType,
          entityId,
          limit: Math.min(COMMENT_PAGE_LIMIT, limit - read),
        };
        if (cursor !== undefined) payload['cursor'] = cursor;
        const askedAt = e.commentSeq;
        const ack = await this.client.request<'comment.list', CommentListAck>('comment.list', { payload });
        pages.push({ askedAt, comments: ack.comments });
        read += ack.comments.length;
        const next = ack.nextCursor;
        if (typeof next !== 'string' || next === '' || next === cursor) break;
        cursor = next;
      }
      // Filtered now, not page by page: news may come after a page's reply too.
      this.putComments(e, pages.flatMap((p) => fresherComments(e, p.comments, p.askedAt)), false);
    } catch (err) {
      this.setError(e, err);
    }
    return e.state.comments;
  }

  /**
   * Adds a comment; resolves with the ack's copy. The entity's `comments`
   * show it unless the copy shown is as new or newer (see fresherComments).
   */
  async addComment(entityType: string, entityId: string, text: string, parentId?: string): Promise<Comment> {
    const payload: Record<string, unknown> = { entityType, entityId, text };
    if (parentId !== undefined) payload['parentId'] = parentId;
    return this.commentRequest('comment.add', entityType, entityId, payload);
  }

  /** Resolves (or, with `resolved` false, reopens) a comment; shown as addComment's. */
  async resolveComment(entityType: string, entityId: string, commentId: string, resolved = true): Promise<Comment> {
    return this.commentRequest('comment.resolve', entityType, entityId, { entityType, entityId, commentId, resolved });
  }

  /** Sends a comment.add or comment.resolve and shows the ack's comment, unless the copy shown is as new or newer. */
  private async commentRequest(
    type: 'comment.add' | 'comment.resolve',
    entityType: string,
    entityId: string,
    payload: Record<string, unknown>,
  ): Promise<Comment> {
    const key = entityChannel(entityType, entityId);
    const asked = this.entries.get(key);
    const askedAt = asked?.commentSeq ?? 0;
    const ack = await this.client.request<typeof type, { comment: Comment }>(type, { payload });
    const e = this.entries.get(key);
    // An entry made while the request was out had all its news after it went out.
    if (e !== undefined) this.putComments(e, fresherComments(e, [ack.comment], e === asked ? askedAt : 0), true);
    return ack.comment;
  }

  /** Stops following everything and removes listeners. */
  destroy(): void {
    for (const e of [...this.entries.values()]) {
      e.refs = 1;
      this.stopSync(e.type, e.id);
    }
    for (const off of this.offs) off();
    this.offs = [];
    this.emitter.removeAll();
  }

  // ---- internals ----

  private heldByMe(e: Entry): boolean {
    // The lock as the server last reported it; expiry is judged by the server (its events and
    // replies), never by this machine's clock, which may be off.
    return e.lock !== null && e.lock.lockedBy === this.userId;
  }

  private onReady(): void {
    for (const e of this.entries.values()) {
      // The server released our lock with the old connection: take it again.
      this.stopRetaking(e);
      if (e.wantLock) this.retakeLock(e, 0);
      this.stopResyncing(e);
      e.resyncFailures = 0;
      this.resync(e);
      void this.pump(e);
    }
  }

  /**
   * Takes the wanted lock again after a reconnect (`attempt` counts the
   * tries after failures). Another holder (LOCK_HELD) ends the wish and
   * shows their lock; a temporary failure (a retryable error) is tried
   * again with backoff while the lock is still wanted and the connection
   * up (the next connection's ready takes it again otherwise); any other
   * refusal ends the wish and shows in the entity's `error`.
   */
  private retakeLock(e: Entry, attempt: number): void {
    const releases = e.lockReleases;
    // Still followed, and the lock still wanted by the wish this attempt serves.
    const current = () => this.entries.get(e.channel) === e && e.wantLock && e.lockReleases === releases;
    if (this.releases.has(e.channel)) {
      // Not before the release in flight is answered (see releasesAnswered).
      void this.releasesAnswered(e.channel).then(() => {
        if (current() && this.client.connected) this.retakeLock(e, attempt);
      });
      return;
    }
    this.client
      .request<'lock.acquire', { lock: Lock }>('lock.acquire', {
        payload: { entityType: e.type, entityId: e.id, ttl: this.opts.lockTtl },
      })
      .then(
        (ack) => {
          if (e.lockReleases === releases) this.setLock(e, ack.lock);
        },
        (err: unknown) => {
          const re = toError(err);
          if (!current() || re.code === 'CLIENT_DESTROYED') return;
          if (re.code === 'LOCK_HELD') {
            e.wantLock = false;
            if (isRecord(re.details) && isRecord(re.details['lock'])) this.setLock(e, re.details['lock'] as unknown as Lock);
            return;
          }
          if (re.retryable) {
            if (!this.client.connected) return;
            this.stopRetaking(e);
            e.retakeTimer = this.clock.setTimeout(() => {
              e.retakeTimer = null;
              if (current() && this.client.connected) this.retakeLock(e, attempt + 1);
            }, backoffDelay(attempt, RETRY_BACKOFF));
            return;
          }
          // Not e.error, which the sync after the reconnect clears.
          e.wantLock = false;
          e.lockError = re;
          if (this.heldByMe(e)) this.setLock(e, null, false);
          else this.update(e);
        },
      );
  }

  private stopRetaking(e: Entry): void {
    if (e.retakeTimer !== null) {
      this.clock.clearTimeout(e.retakeTimer);
      e.retakeTimer = null;
    }
  }

  /**
   * The catch-up sync after a reconnect. Nothing else would make it again
   * (an entity no one edits sends no event whose gap starts one), so one
   * that fails with a retryable error (QUEUE_OVERFLOW when the client's
   * queue is full of changes made offline, TIMEOUT, UNAVAILABLE...) is
   * made again with backoff (1 s doubling up to 30 s) while the entity is
   * followed, not synced since, and the connection up (the next
   * connection's ready syncs it otherwise).
   */
  private resync(e: Entry): void {
    void this.runSync(e).then(({ error }) => {
      if (this.entries.get(e.channel) !== e) return;
      if (error === null) {
        e.resyncFailures = 0;
        return;
      }
      if (!error.retryable || !this.client.connected || e.resyncTimer !== null) return;
      e.resyncTimer = this.clock.setTimeout(() => {
        e.resyncTimer = null;
        if (this.entries.get(e.channel) !== e || !this.client.connected || e.syncState === 'synced') return;
        this.resync(e);
      }, backoffDelay(e.resyncFailures++, RETRY_BACKOFF));
    });
  }

  private stopResyncing(e: Entry): void {
    if (e.resyncTimer !== null) {
      this.clock.clearTimeout(e.resyncTimer);
      e.resyncTimer = null;
    }
  }

  private onClose(): void {
    for (const e of this.entries.values()) {
      // The next connection's ready takes the lock again, and its grant
      // is renewed from then on: a renewal of the old connection's lock
      // sent on the new one before that could be refused (the server
      // releases a closed connection's locks) after the grant is read,
      // and end the wish for the new lock.
      this.stopRenewing(e);
      this.stopRetaking(e);
      this.stopResyncing(e);
      e.syncState = 'offline';
      this.update(e);
    }
  }

  /**
   * Syncs the entity (or, when a sync is under way, waits for it, asked to
   * run again). Resolves with the state and the sync's own error: null
   * when it succeeded, or when the entity is no longer followed. `error`
   * in the state may be another request's (history, comments, a lock).
   */
  private async runSync(e: Entry): Promise<{ state: EntitySyncState; error: RealtimeError | null }> {
    if (e.syncRunning) {
      e.syncAgain = true;
      // Not a listener of this.emitter: destroy() removes those, and the
      // wait would never end.
      return new Promise((resolve) => e.syncWaiters.push((error) => resolve({ state: e.state, error })));
    }
    let failed: RealtimeError | null = null;
    e.syncRunning = true;
    e.syncState = 'syncing';
    this.update(e);
    try {
      do {
        e.syncAgain = false;
        let conflictsCursor: string | undefined;
        for (let page = 0; page < 50; page++) {
          const lockSeq = e.lockSeq;
          const since = e.version;
          const payload: Record<string, unknown> = { entityType: e.type, entityId: e.id, sinceVersion: since };
          if (conflictsCursor !== undefined) payload['conflictsCursor'] = conflictsCursor;
          const ack = await this.client.request<'sync', SyncAck>('sync', { payload });
          if (!this.entries.has(e.channel)) return { state: e.state, error: null };
          e.strategy = ack.strategy;
          if (ack.snapshot) {
            if (!isVersion(ack.version)) {
              throw new RealtimeError({ code: 'BAD_FRAME', message: 'the sync reply carries no valid version' });
            }
            if (ack.version < e.version && e.version !== since) {
              // Read before versions applied since it was asked (events and
              // acks travel apart from the reply): taken, it would move the
              // entity back and hide them. Asked again from the version held.
              e.syncAgain = true;
            } else if (ack.version !== e.version || ack.version === 0) {
              // The changes in between are not known one by one: the
              // changes waiting to be sent cannot be rebased past them.
              if (e.lastSyncedAt !== null && ack.version !== e.version) {
                this.rebasePending(e, null);
                if (e.strategy === 'manual') markOverwrites(e, ack.document ?? {});
              }
              e.serverDoc = ack.document ?? {};
              e.version = ack.version;
            }
          } else {
            for (const c of ack.changes) this.ingest(e, c, true);
          }
          for (const c of ack.conflicts) this.putConflict(e, c);
          if (e.lockSeq === lockSeq) this.setLock(e, ack.lock, false);
          // Replies are at most 128 KB: the rest of the conflicts come with
          // the cursor, on top of the version now held.
          conflictsCursor = ack.conflictsNextCursor || undefined;
          if ((!ack.hasMore || ack.snapshot) && conflictsCursor === undefined) break;
        }
      } while (e.syncAgain);
      e.syncState = this.client.connected ? 'synced' : 'offline';
      e.lastSyncedAt = new Date(this.clock.now());
      e.error = null;
    } catch (err) {
      failed = toError(err);
      e.syncState = this.client.connected ? 'error' : 'offline';
      e.error = failed;
    } finally {
      e.syncRunning = false;
      this.update(e);
      for (const w of e.syncWaiters.splice(0)) w(failed);
    }
    return { state: e.state, error: failed };
  }

  /**
   * Applies an accepted change if it is the next version; a gap triggers a
   * sync. A malformed version is ignored. A change made by one of the local
   * changes still waiting for its ack (same messageId) stops that one being
   * replayed on top; it settles on the ack. Any other change is transformed
   * into the local changes still waiting (see rebasePending).
   */
  private ingest(e: Entry, c: Change, fromSync = false): void {
    // A version that is not a whole number (a string, a fraction, past
    // 2^53) is a malformed frame: taken as is, "2" + 1 would be "21" and
    // hide every gap after it.
    if (!isVersion(c.version) || c.version <= e.version) return;
    if (c.version > e.version + 1) {
      if (!fromSync) void this.runSync(e);
      return;
    }
    const own = typeof c.messageId === 'string' ? e.pending.find((p) => p.messageId === c.messageId) : undefined;
    if (own !== undefined) {
      own.applied = true;
      checkHeldPastOwn(e, remoteOp(e.serverDoc, c));
    } else {
      this.rebasePending(e, remoteOp(e.serverDoc, c), c);
    }
    e.serverDoc = applyChange(e.serverDoc, c);
    e.version = c.version;
    e.history = [c, ...e.history.filter((h) => h.version !== c.version)].slice(0, this.opts.historyLimit);
    if (c.userId !== this.userId) {
      e.remote = [c, ...e.remote].slice(0, this.opts.historyLimit);
      this.emitter.emit('remote-change', c);
    }
    this.update(e);
  }

  private onFrame(e: Entry, m: WebSocketMessage): void {
    const p = m.payload;
    if (!isRecord(p)) return;
    switch (m.type) {
      case 'change':
        this.ingest(e, p as unknown as Change);
        break;
      case 'lock': {
        const action = p['action'];
        const lock = isRecord(p['lock']) ? (p['lock'] as unknown as Lock) : null;
        const token = fencingTokenOf(lock);
        if (action === 'acquired' || action === 'renewed') {
          // Events come in any order and may come twice; the token grows
          // with every grant: one of an older grant than the lock shown,
          // or of a grant whose end was announced, is old news.
          const shown = fencingTokenOf(e.lock);
          if (token !== undefined && ((shown !== undefined && token < shown) || token <= e.lockEnded)) break;
          this.setLock(e, lock, false);
        } else {
          if (token !== undefined && token > e.lockEnded) e.lockEnded = token;
          if (lock === null || e.lock === null || e.lock.fencingToken === lock.fencingToken) {
            // This user released it (from another tab or device), or it
            // expired (not renewed in time, and another user may have
            // taken and changed the entity since): no longer wanted, so
            // not taken again at the next reconnect; an expiry shows in
            // expiredLock. A lock whose connection closed still is, as
            // one lost with this client's own connection.
            const expired = action === 'expired';
            if (this.heldByMe(e) && (expired || (action === 'released' && p['reason'] === 'released'))) {
              e.wantLock = false;
              this.stopRetaking(e);
              if (expired) e.expiredLock = lock ?? e.lock;
            }
            this.setLock(e, null, false);
          }
        }
        break;
      }
      case 'conflict':
        this.putConflict(e, p as unknown as Conflict);
        break;
      case 'comment': {
        const c = p['comment'];
        if (!isRecord(c) || typeof c['id'] !== 'string') break;
        const fresh = fresherComments(e, [c as unknown as Comment], Infinity);
        if (fresh.length > 0) this.putComments(e, fresh, true);
        break;
      }
    }
  }

  /**
   * Records comments (new ones, or the latest state of known ones, as
   * fresherComments took them) and keeps the newest `commentLimit`: ids
   * order comments by creation. Each comment's highest version is kept.
   * `news` (an event, or an ack) numbers the comments' latest news: a
   * reply without a version to a request sent before it is older.
   */
  private putComments(e: Entry, cs: readonly Comment[], news: boolean): void {
    const seq = news ? ++e.commentSeq : 0;
    for (const c of cs) {
      e.comments.set(c.id, c);
      const v = commentVersion(c);
      if (v !== undefined && v > (e.commentVersions.get(c.id) ?? 0)) e.commentVersions.set(c.id, v);
      if (news) e.commentNews.set(c.id, seq);
    }
    const over = e.comments.size - this.opts.commentLimit;
    if (over > 0) {
      const oldest = [...e.comments.keys()].sort().slice(0, over);
      for (const id of oldest) {
        e.comments.delete(id);
        e.commentVersions.delete(id);
        e.commentNews.delete(id);
      }
    }
    this.update(e);
  }

  private putConflict(e: Entry, c: Conflict): void {
    const prev = e.conflicts.get(c.id);
    if (prev !== undefined && prev.resolved && !c.resolved) return;
    e.conflicts.set(c.id, c);
    if (c.resolved) {
      forgetResolved(e.conflicts, this.opts.historyLimit);
      // Settled: a copy still open is ignored above.
      e.autoResolved.delete(c.id);
      e.autoErrors.delete(c.id);
      const r = e.autoRetries.get(c.id);
      if (r !== undefined) {
        if (r.timer !== null) this.clock.clearTimeout(r.timer);
        e.autoRetries.delete(c.id);
      }
    }
    this.update(e);
    if (prev === undefined) this.emitter.emit('conflict', c);
    this.autoResolve(e, c);
  }

  /**
   * autoResolveConflicts: asks to settle an open conflict of this user's.
   * One conflict is reported by the change's ack, the conflict event and
   * later syncs: it is asked once. A refusal that would only come again
   * (FORBIDDEN, NOT_FOUND, BAD_REQUEST...) is not asked again (the user can
   * still resolve it by hand); a temporary failure is asked again after a
   * backoff. Either shows in `error` while the conflict stays open.
   */
  private autoResolve(e: Entry, c: Conflict): void {
    const auto = this.opts.autoResolveConflicts;
    if (c.resolved || auto === false || c.localChange.userId !== this.userId || e.autoResolved.has(c.id)) return;
    e.autoResolved.add(c.id);
    const id = c.id;
    // Still followed, and the conflict still open and asked by this attempt.
    const current = () => this.entries.get(e.channel) === e && e.autoResolved.has(id) && e.conflicts.get(id)?.resolved === false;
    this.resolveConflict(id, auto).then(
      () => {
        e.autoRetries.delete(id);
        if (e.autoErrors.delete(id) && current()) this.update(e);
      },
      (err: unknown) => {
        const re = toError(err);
        if (re.code === 'CONFLICT_RESOLVED' || !current()) return; // settled already (resolveConflict shows it so), or let go of
        e.autoErrors.delete(id);
        e.autoErrors.set(id, re);
        if (re.retryable) {
          const r = e.autoRetries.get(id) ?? { attempts: 0, timer: null };
          e.autoRetries.set(id, r);
          r.timer = this.clock.setTimeout(() => {
            r.timer = null;
            if (!current()) return;
            e.autoResolved.delete(id);
            this.autoResolve(e, e.conflicts.get(id) as Conflict);
          }, backoffDelay(r.attempts, RETRY_BACKOFF));
          r.attempts++;
        }
        this.update(e);
      },
    );
  }

  private setLock(e: Entry, lock: Lock | null, fromReply = true): void {
    e.lockSeq++;
    e.lock = lock;
    if (lock !== null && lock.lockedBy === this.userId) {
      e.expiredLock = null;
      if (fromReply) {
        e.wantLock = true;
        e.lockError = null;
      }
      this.scheduleRenew(e);
    } else {
      this.stopRenewing(e);
    }
    this.update(e);
  }

  private scheduleRenew(e: Entry): void {
    this.stopRenewing(e);
    if (e.lock === null) return;
    const half = this.opts.lockTtl / 2;
    // An expiresAt that does not parse leaves NaN, which a timer takes as 0
    // (a renewal loop): the renewal then waits half of lockTtl.
    const left = new Date(e.lock.expiresAt).getTime() - this.clock.now() - 5000;
    const wait = Math.max(1000, Number.isNaN(left) ? half : Math.min(half, left));
    e.renewTimer = this.clock.setTimeout(() => {
      e.renewTimer = null;
      if (!this.entries.has(e.channel) || !e.wantLock || !this.client.connected) return;
      const releases = e.lockReleases;
      this.client
        .request<'lock.renew', { lock: Lock }>('lock.renew', {
          payload: { entityType: e.type, entityId: e.id, ttl: this.opts.lockTtl },
        }, { queue: false })
        .then(
          // Renewing keeps a lock wanted; it never makes one wanted again,
          // and a reply to a renewal sent before releaseLock is old news.
          (ack) => {
            if (e.lockReleases === releases) this.setLock(e, ack.lock, false);
          },
          (err: unknown) => {
            if (e.lockReleases !== releases) return;
            const re = toError(err);
            if (re.code === 'NOT_LOCK_HOLDER') {
              e.wantLock = false;
              const other = isRecord(re.details) && isRecord(re.details['lock']) ? (re.details['lock'] as unknown as Lock) : null;
              this.setLock(e, other, false);
            } else if (this.client.connected) {
              // Not after a drop: the next connection's ready takes the lock again.
              this.scheduleRenew(e);
            }
          },
        );
    }, wait);
  }

  private stopRenewing(e: Entry): void {
    if (e.renewTimer !== null) {
      this.clock.clearTimeout(e.renewTimer);
      e.renewTimer = null;
    }
  }

  /**
   * Makes sure this user holds the lock of a lock-based entity; true when
   * it does (or none is needed). Rejects with NOT_FOLLOWING once the entity
   * is no longer followed (stopSync withdraws its lock.acquire when it
   * has not left the client): no lock is taken for a write that will not
   * be sent.
   */
  private async ensureLock(e: Entry): Promise<boolean> {
    if (e.strategy !== 'lock-based') return true;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.entries.get(e.channel) !== e) throw notFollowing(e);
      if (this.heldByMe(e)) return true;
      const messageId = `lock.acquire-${this.clock.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
      e.writeAsks.add(messageId);
      let got: Lock | null;
      try {
        got = await this.takeLock(e.type, e.id, messageId);
      } finally {
        e.writeAsks.delete(messageId);
      }
      if (got !== null) {
        e.writeGrant = got;
        return true;
      }
      // null: another user holds it, or it was granted and released
      // (releaseLock) while the request was out: then take it again, once.
      if (e.lock !== null && e.lock.lockedBy !== this.userId) return false;
    }
    return false;
  }

  /** Sends a write that may need the lock's fencing token; takes the lock and retries once when it lapsed. */
  private async writeWithLock<R>(e: Entry, type: string, payload: Record<string, unknown>): Promise<R> {
    const messageId = `${type}-${this.clock.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    for (let attempt = 0; ; attempt++) {
      if (this.opts.autoLock && !(await this.ensureLock(e))) {
        throw new RealtimeError({ code: 'LOCK_HELD', message: `${e.channel} is locked by another user`, details: { lock: e.lock } });
      }
      const p = { ...payload };
      if (e.lock !== null && e.lock.lockedBy === this.userId && e.lock.fencingToken !== undefined) {
        p['fencingToken'] = e.lock.fencingToken;
      }
      try {
        return await this.client.request<string, R>(type, { payload: p }, { messageId });
      } catch (err) {
        const re = toError(err);
        if (attempt < 2 && LOCK_ERRORS.has(re.code)) {
          this.setLock(e, null, false);
          continue;
        }
        throw re;
      }
    }
  }

  /** Sends the entity's local changes, one at a time. */
  private async pump(e: Entry): Promise<void> {
    if (e.sending) return;
    e.sending = true;
    try {
      while (e.pending.length > 0 && this.entries.get(e.channel) === e) {
        const p = e.pending[0] as Pending;
        e.inFlight = p;
        try {
          const ack = await this.sendChange(e, p);
          // A version skipped before this one: fetch the changes in
          // between while this change still waits, so that those of other
          // users are transformed into the next local changes past it and
          // it is taken as this user's own (see catchUp).
          // Only where the server rebases changes (operational-transform,
          // manual): under the other strategies the next ones go out as
          // written, and the sync the gap starts is enough.
          const v = ack.change?.version;
          const rebases = e.strategy === 'operational-transform' || e.strategy === 'manual';
          const caughtUp = !(isVersion(v) && v > e.version + 1 && rebases) || (await this.catchUp(e, v - 1));
          // Dropped past changes not seen yet (the ack may come before
          // their events): fetch them while this change still waits, so
          // that they are carried past it into the next local changes, as
          // when their events come first, once (see accept).
          if (ack.outcome === 'dropped' && p.sent && isVersion(ack.version) && ack.version > e.version && this.entries.get(e.channel) === e) {
            await this.runSync(e);
          }
          // Its own change, taken while it is still listed: not another's
          // change to rebase the next ones past.
          if (ack.change !== undefined && caughtUp) this.ingest(e, ack.change);
          e.pending.shift();
          e.inFlight = null;
          // The changes before it could not be fetched: the next ones go
          // out as if it was not applied, and its own event, when it comes
          // (or a later sync), is carried into them as another user's
          // change, once.
          if (!caughtUp && !p.applied && this.entries.get(e.channel) === e) {
            this.withdraw(e, p, 'was applied after changes that could not be fetched');
          }
          this.accept(e, p, ack);
        } catch (err) {
          e.inFlight = null;
          const re = toError(err);
          if (re.code === 'CLIENT_DESTROYED') {
            // Nothing can be sent any more: every local change fails with it.
            for (const q of e.pending.splice(0)) q.reject(re);
            this.update(e);
            return;
          }
          e.pending.shift();
          // Its last attempt failed: refused by the server, rejected before
          // it was sent (LOCAL_CONFLICT, REBASE_FAILED, QUEUE_CLEARED), or
          // left with a retryable error (UNAVAILABLE, RATE_LIMITED...). The
          // next ones were written on a document where it applied: they go
          // out as if it was not applied. If it was (TIMEOUT, UNAVAILABLE,
          // INTERNAL leave that open), its event comes later and, no longer listed,
          // is carried into them as another user's change, once.
          if (!p.applied && this.entries.get(e.channel) === e) {
            // An error that leaves the outcome open says so; so does a retryable
            // refusal of a resend after an attempt that left it open, or a
            // resend that never reached the server: rejected by the SDK
            // (LOCAL_CONFLICT, REBASE_FAILED) or dropped by clearQueue().
            const open = outcomeUnknown(re) || (p.maybeApplied && (re.retryable || UNSENT_REFUSALS.has(re.code)));
            const what = !p.sent ? 'was not sent' : open ? 'may have been applied' : 'was refused';
            this.withdraw(e, p, `${what} (${re.code})`);
          }
          e.error = re;
          this.update(e);
          p.reject(re);
        }
      }
    } finally {
      e.sending = false;
    }
  }

  /**
   * Syncs until the entity holds version `v`: the changes before one of
   * the user's own that the server applied at `v` + 1, whose ack came
   * before them. That change waits listed meanwhile, and the next local
   * changes with it: they were written on a document where it applied,
   * and they can go out neither against a version before it as they are
   * (the server would carry them past it again) nor without the changes
   * before it. Its own change, when it comes, is then taken as the user's
   * (not rebased into them as another user's). A sync that failed with a
   * retryable error is tried again with backoff (1 s doubling up to 30 s;
   * once the connection is back when it is down), at most
   * CATCH_UP_ATTEMPTS syncs in all (no backoff after the last). True when
   * the entity holds `v`; false when the wait ends without it: a sync refused for good (not
   * retryable), one answered with nothing newer, the attempts used up,
   * the entity no longer followed or the client destroyed.
   */
  private async catchUp(e: Entry, v: number): Promise<boolean> {
    let failures = 0;
    for (let attempt = 0; attempt < CATCH_UP_ATTEMPTS; attempt++) {
      if (this.entries.get(e.channel) !== e) return false;
      const before = e.version;
      const { error } = await this.runSync(e);
      if (e.version >= v) return true;
      if (this.entries.get(e.channel) !== e) return false;
      if (e.version > before) {
        failures = 0;
        continue;
      }
      // Answered with nothing newer (the server has no such version), or
      // refused for good (FORBIDDEN, NOT_FOUND...: another sync would be too).
      if (error === null || !error.retryable) return false;
      // The last attempt failed: nothing is left to wait for.
      if (attempt === CATCH_UP_ATTEMPTS - 1) return false;
      try {
        await this.waitConnected(e, backoffDelay(failures++, RETRY_BACKOFF));
      } catch {
        return false; // the client was destroyed: nothing will be sent any more
      }
    }
    return e.version >= v;
  }

  private async sendChange(e: Entry, p: Pending): Promise<ChangeAck> {
    const { options } = p;
    for (;;) {
      if (p.dropped !== null && !p.sent) return droppedAck(e, p.dropped);
      p.attempts++;
      if (e.lastSyncedAt === null) await this.runSync(e);
      const locked = !this.opts.autoLock || options.noAutoLock === true || (await this.ensureLock(e));
      if (this.entries.get(e.channel) !== e) throw notFollowing(e);
      if (!locked) {
        throw new RealtimeError({ code: 'LOCK_HELD', message: `${e.channel} is locked by another user`, details: { lock: e.lock } });
      }
      if (!p.sent) {
        // A sync under way finishes first: the changes it brings rebase
        // (or drop, or make stale) this change before it is judged below.
        if (e.syncRunning) await this.runSync(e);
        if (this.entries.get(e.channel) !== e) throw notFollowing(e);
        // Rebased while it waited (the awaits above included): it goes out
        // against the version that holds the changes it was carried past.
        if (p.dropped !== null) return droppedAck(e, p.dropped);
        const failed = rebaseFailed(e, p, 'sent');
        if (failed !== null) throw failed;
        if (p.lift) {
          // Decided on the server's document as it is now (a sync under
          // way finished above), never on the empty document of an entity
          // never synced.
          if (e.lastSyncedAt === null) {
            // A client destroyed (before this manager heard of it too)
            // will never sync it.
            if (p.attempts >= 5 || e.error?.code === 'CLIENT_DESTROYED') {
              throw e.error ?? new RealtimeError({ code: 'UNAVAILABLE', message: `${e.channel} could not be synced`, retryable: true });
            }
            await this.waitConnected(e);
            continue;
          }
          this.liftPayload(e, p);
        }
        if (p.held !== null) {
          // Manual: sent as of the version before the other user's change
          // it met, so that the server holds it as a conflict with it.
          if (p.held.blocked) {
            throw localConflict(e, p.held, p.local, "no base version shows the server that change without this user's own earlier change to it");
          }
          setPayloadOp(p.payload, p.held.op);
          p.sent = true;
          p.sentBase = p.held.base;
        } else {
          p.sent = true;
          p.sentBase = e.version;
        }
      }
      const payload: Record<string, unknown> = { ...p.payload, baseVersion: p.sentBase };
      if (e.lock !== null && e.lock.lockedBy === this.userId && e.lock.fencingToken !== undefined) {
        payload['fencingToken'] = e.lock.fencingToken;
      }
      try {
        // The same messageId on every attempt: the server applies it at most once.
        return await this.client.request<'change', ChangeAck>('change', { payload }, { messageId: p.messageId, timeout: 15_000 });
      } catch (err) {
        const re = toError(err);
        if (outcomeUnknown(re)) p.maybeApplied = true;
        // No longer followed: the answer stands (a timeout may have been applied).
        if (p.attempts >= 5 || this.entries.get(e.channel) !== e) throw re;
        if (LOCK_ERRORS.has(re.code) && this.opts.autoLock && !options.noAutoLock) {
          // The lock lapsed (a reconnect, a server restart): take it again.
          this.setLock(e, null, false);
          continue;
        }
        if (re.code === 'VERSION_CONFLICT') {
          // The server cannot rebase it from its base (history trimmed):
          // the changes since are fetched, unless it is a manual change
          // held already.
          if (p.held === null) await this.runSync(e);
          // A manual change that met another user's change after its base
          // (one whose event came while it waited, queued or in flight, or
          // one the sync brought): the server no longer keeps the changes
          // since its base (or cannot store the conflict), and resent at
          // the head it would overwrite that change with no conflict.
          if (p.held !== null) throw localConflict(e, p.held, p.local, 'the server can no longer hold it as a conflict (VERSION_CONFLICT)');
          if (e.strategy === 'operational-transform' || e.strategy === 'manual') {
            // Sent again as carried past the changes since (what the
            // local view shows), against the synced version; refused when
            // they came as a whole document and it has positions (or, on
            // a manual entity, its path changed among them).
            const failed = rebaseFailed(e, p, 'sent again');
            if (failed !== null) throw failed;
            if (p.localDropped) return droppedAck(e, []);
            this.rebaseUnsent(p, localOp(p.local));
          }
          p.sentBase = e.version;
          continue;
        }
        if (re.code === 'TIMEOUT' || re.code === 'UNAVAILABLE' || re.code === 'INTERNAL' || re.code === 'DISCONNECTED') {
          await this.waitConnected(e);
          // No longer followed meanwhile: the answer stands, as above.
          if (this.entries.get(e.channel) !== e) throw re;
          continue;
        }
        throw re;
      }
    }
  }

  /**
   * Creates the change's missing parent objects in the change itself
   * (`customer.name` on an order without a customer becomes `customer =
   * {name}`), judged on the server's document with the local changes
   * before it: not on the document at push time, which is empty before the
   * first sync, and where the lift would replace the parent's other keys.
   * Decided once: every attempt sends the same change, as the server's
   * idempotency record requires.
   */
  private liftPayload(e: Entry, p: Pending): void {
    p.lift = false;
    let doc = e.serverDoc;
    for (const q of e.pending) {
      if (q === p) break;
      if (!replayed(q)) continue;
      try {
        doc = applyLocalChange(doc, q.local);
      } catch {
        // a malformed local path changes nothing
      }
    }
    const { path, value } = liftToExistingParent(doc, p.local.path, p.local.after);
    if (path === p.local.path) return;
    // A held change sent from an earlier base at the same path creates
    // the same parents.
    if (p.held !== null && p.held.op.path === p.local.path) p.held.op = { op: 'update', path, value };
    p.payload['operation'] = 'update';
    p.payload['path'] = path;
    p.payload['after'] = value;
    delete p.payload['before'];
    // Shown (and rebased) as the server will apply it.
    p.local = { operation: 'update', path, after: value };
  }

  /**
   * Transforms the local changes still waiting (not yet applied by the
   * server) past `r`, another change the server applied after the ones it
   * already holds, as the server would (package ot: the waiting changes
   * arrive later and win ties). Follows the server's sequence rule: each
   * waiting change is transformed past `r` as transformed past the waiting
   * changes before it that changed the document shown (`doc`, the one they
   * were written on, with them replayed): one that did not apply to it (a
   * move out of the list's bounds) moved nothing, there or on the server
   * (it refuses it). A change not sent yet is rebased (payload and
   * replay), or marked dropped when nothing is left of it; the one in
   * flight keeps its payload, which the server transforms from its own
   * base, and is only shown transformed. `r` null: a change that cannot be
   * followed (its operation is unknown); the changes not sent yet are
   * marked stale.
   *
   * On a manual entity, a change not sent yet that `c` (the change of `r`)
   * changed concurrently, by the server's rule, is not decided here: it
   * is `held` against `c`, to go out with the base just before `c` so that
   * the server holds it as a conflict (see Pending.held). The one in
   * flight, sent against a version before `c`, is marked `held` too: the
   * server holds it as a conflict itself, and if it cannot
   * (VERSION_CONFLICT), it is not sent again at the head.
   */
  private rebasePending(e: Entry, r: DocOp | null, c?: Change, doc: DocumentValue = e.serverDoc): void {
    // Only the strategies whose server rebases a change from its base
    // (operational-transform, and manual where it merges): the others
    // apply a change as sent, at the head, and a waiting change goes out
    // as written.
    if (e.strategy !== 'operational-transform' && e.strategy !== 'manual') return;
    const waiting = e.pending.filter((q) => !q.applied && q.dropped === null && !q.localDropped);
    if (r === null) {
      // Changes between came as a whole document: none can be carried
      // past them (a sent one is only refused later, on VERSION_CONFLICT).
      for (const q of waiting) q.stale = true;
      return;
    }
    let cur: DocOp = r;
    // The waiting changes before q, in their forms before r: q's form is
    // written on top of them, on the document shown (before c, for a held one).
    const prior: Prior[] = [];
    let shown = doc;
    for (const q of waiting) {
      const mine = localOp(q.local);
      const before = shown;
      shown = replay(shown, q.local);
      const t = transformOp(mine, cur, true);
      const back = transformOp(cur, mine, false);
      const meets = e.strategy === 'manual' && c !== undefined && (!t.ok || touches(mine, cur));
      const held = !q.sent && meets;
      if (held && (q.held === null || q.held.blocked)) {
        // Its form now is its form at the version before c: every change
        // before c has been carried into it.
        q.held = { base: c.version - 1, op: mine, remote: c, blocked: false, prior: [...prior] };
      } else if (q.sent && meets && q.held === null) {
        // Sent against a version before c: the server holds it against c,
        // unless it answers VERSION_CONFLICT; then it is not sent again at
        // the head, over c.
        q.held = { base: q.sentBase, op: mine, remote: c, blocked: false, prior: [] };
      }
      prior.push({ p: q, op: mine, shown: shown !== before });
      if (q.sent) {
        if (t.ok) q.local = toLocal(t.op);
        else q.localDropped = true;
      } else if (!t.ok && held) {
        q.localDropped = true; // the server holds it: shown no more
      } else if (!t.ok) {
        q.dropped = t.notice !== undefined ? [t.notice] : [];
      } else {
        this.rebaseUnsent(q, t.op);
      }
      // One that did not apply to the document shown (a move out of the
      // list's bounds) moved nothing there, nor on the server, which
      // refuses it: r is carried on as it is, its indexes not shifted by it.
      if (shown === before) continue;
      if (!back.ok) return; // nothing of r is left for the later ones
      cur = back.op;
    }
  }

  /**
   * `p` is not in the server's document: sent and, on a manual entity,
   * held back as a conflict, it stays out of it unless the conflict is
   * settled `local` (the server then follows it through the changes
   * since, these included); sent and, on an operational-transform one,
   * dropped, or refused with an error that is not retryable (by the
   * server, or before it went out), it never gets in; failed with a
   * retryable error once the attempts ran out, it is taken as not in it
   * (if it is, its event comes later and is carried into the changes
   * after it as another user's). The local changes
   * after it were written on a document where it applied: the list
   * indexes and text positions it moved are moved back in them, as past
   * a change undoing it, and so are the forms they are held in
   * (Pending.held). One left with nothing (it changed what `p` inserted)
   * settles as `dropped` without being sent. `what` says what became of
   * `p`, for their notices.
   */
  private withdraw(e: Entry, p: Pending, what: string): void {
    const why = `${p.local.operation} ${JSON.stringify(p.local.path)} ${what}`;
    // It was the first local change: the document shown had it on top of the server's.
    if (replayed(p) && shows(e.serverDoc, p.local)) {
      const u = undoShift(localOp(p.local));
      if (u !== null) {
        const before = new Set(e.pending.filter((q) => q.dropped !== null));
        // The later ones were written on the document with it.
        this.rebasePending(e, u, undefined, replay(e.serverDoc, p.local));
        for (const q of e.pending) {
          if (q.dropped !== null && !before.has(q)) q.dropped = [`${q.local.operation} ${JSON.stringify(q.local.path)} dropped: ${why}`];
        }
      }
    }
    for (const q of e.pending) {
      const h = q.held;
      const i = h === null || q.sent ? -1 : h.prior.findIndex((x) => x.p === p);
      if (h === null || i < 0) continue;
      const undone = h.prior[i] as Prior;
      // One that showed nothing (it did not apply to the document the held
      // form was written on) moved nothing in it: there is nothing to move back.
      let cur = undone.shown ? undoShift(undone.op) : null;
      const after = h.prior.slice(i + 1);
      h.prior = h.prior.slice(0, i);
      // As rebasePending: each later one past the undo as carried past the ones before it.
      // One that showed nothing moved nothing: the undo is carried on as it is.
      for (const x of after) {
        if (cur === null) {
          h.prior.push(x);
          continue;
        }
        const t = transformOp(x.op, cur, true);
        const back = transformOp(cur, x.op, false);
        if (t.ok) h.prior.push({ ...x, op: t.op });
        if (x.shown) cur = back.ok ? back.op : null;
      }
      if (cur === null) continue;
      const t = transformOp(h.op, cur, true);
      if (t.ok) h.op = t.op;
      else if (q.dropped === null) q.dropped = [`${h.op.op} ${JSON.stringify(h.op.path)} dropped: ${why}`];
    }
  }

  /** Rewrites a change not sent yet as `op`, its rebased form. */
  private rebaseUnsent(q: Pending, op: DocOp): void {
    q.local = toLocal(op);
    setPayloadOp(q.payload, op);
    q.change = { ...q.change, operation: op.op as ChangeOperation, path: op.path };
  }

  /**
   * Waits before a change is sent again: `delay` ms (half a second) when
   * connected, else until the connection is ready again. Ends early when
   * the entity is no longer followed (the caller finds it so), and rejects
   * with CLIENT_DESTROYED once the client is destroyed (it will never be
   * ready again).
   */
  private waitConnected(e: Entry, delay = 500): Promise<void> {
    if (this.clientDestroyed) return Promise.reject(clientDestroyedError());
    if (this.entries.get(e.channel) !== e) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const offs: (() => void)[] = [];
      const done = (err?: RealtimeError): void => {
        for (const off of offs) off();
        e.unfollowWaiters.delete(onUnfollow);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onUnfollow = (): void => done();
      e.unfollowWaiters.add(onUnfollow);
      if (this.client.connected) {
        const t = this.clock.setTimeout(() => done(), delay);
        offs.push(() => this.clock.clearTimeout(t));
      } else {
        offs.push(this.client.on('ready', () => done()));
      }
      offs.push(this.client.on('destroy', () => done(clientDestroyedError())));
    });
  }

  private accept(e: Entry, p: Pending, ack: ChangeAck): void {
    if (ack.change !== undefined) {
      this.ingest(e, ack.change);
      p.resolve(ack.change);
    } else if (ack.conflict !== undefined) {
      this.withdraw(e, p, 'was held back as a conflict');
      this.putConflict(e, ack.conflict);
      p.resolve(ack.conflict.localChange);
    } else {
      // Dropped by the server and still shown (the changes that left
      // nothing of it could not be fetched, see pump): the next ones were
      // written on a document where it applied.
      if (ack.outcome === 'dropped' && p.sent && !p.localDropped) this.withdraw(e, p, 'was dropped');
      const settled: Change = { ...p.change, metadata: { ...(p.change.metadata ?? {}), outcome: ack.outcome } };
      if (ack.notices !== undefined) settled.notices = ack.notices;
      p.resolve(settled);
    }
    this.update(e);
  }

  private setError(e: Entry, err: unknown): void {
    e.error = toError(err);
    this.update(e);
  }

  private update(e: Entry): void {
    this.endLockFollow(e);
    let document = e.serverDoc;
    for (const p of e.pending) {
      if (!replayed(p)) continue;
      try {
        document = applyLocalChange(document, p.local);
      } catch {
        // a malformed local path shows nothing; the server refuses it
      }
    }
    const lock = e.lock;
    const me = this.userId;
    const conflicts = [...e.conflicts.values()].sort((a, b) => Number(a.resolved) - Number(b.resolved));
    const comments = [...e.comments.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    let autoError: RealtimeError | null = null;
    for (const err of e.autoErrors.values()) autoError = err;
    e.state = {
      entityType: e.type,
      entityId: e.id,
      syncState: e.syncState,
      syncing: e.syncState === 'syncing',
      version: e.version,
      document,
      strategy: e.strategy,
      lastSyncedAt: e.lastSyncedAt,
      localChanges: e.pending.map((p) => p.change),
      remoteChanges: e.remote,
      conflicts,
      changeHistory: e.history,
      lock,
      isLocked: lock !== null && lock.lockedBy !== me,
      lockedByMe: lock !== null && lock.lockedBy === me,
      expiredLock: e.expiredLock,
      comments,
      error: e.error ?? e.lockError ?? autoError,
    };
    this.emitter.emit('change', { key: e.channel, state: e.state });
  }
}

/** Creates a RealtimeSyncManager. */
export function createRealtimeSyncManager(options: RealtimeSyncManagerOptions): RealtimeSyncManager {
  return new RealtimeSyncManager(options);
}

const managers = new WeakMap<WebSocketClient, RealtimeSyncManager>();

/** The page-wide RealtimeSyncManager of a client (created on first use with `options`). */
export function getRealtimeSyncManager(
  client: WebSocketClient,
  options: Omit<RealtimeSyncManagerOptions, 'client'> = {},
): RealtimeSyncManager {
  let m = managers.get(client);
  if (m === undefined) {
    m = new RealtimeSyncManager({ ...options, client });
    managers.set(client, m);
  }
  return m;
}

/** Whether the optimistic document replays a local change: not yet in the server's document, and not dropped by rebasing. */
function replayed(p: Pending): boolean {
  return !p.applied && !p.localDropped && p.dropped === null;
}

/** Writes the operation `op` into a change request's payload (its value, delta and metadata stay). */
function setPayloadOp(payload: Record<string, unknown>, op: DocOp): void {
  payload['operation'] = op.op;
  payload['path'] = op.path;
  if (op.value !== undefined && (op.op === 'update' || op.op === 'insert')) payload['after'] = op.value;
  if (op.from !== undefined) payload['from'] = op.from;
  if (op.to !== undefined) payload['to'] = op.to;
  if (op.text !== undefined) payload['text'] = op.text;
}

/**
 * The server's manual rule (package editing, concurrent): whether `b`, a
 * change applied after `op`'s base, changed what `op` writes. Paths that
 * are equal or one inside the other do; a list insert, delete or move
 * changes only the list as a whole (and its ancestors): it moves the
 * elements a path goes through, which the server follows.
 */
function touches(op: DocOp, b: DocOp): boolean {
  let pa: PathSegment[];
  let pb: PathSegment[];
  try {
    pa = parsePath(op.path);
    pb = parsePath(b.path);
  } catch {
    return false;
  }
  if (pb.length === 0) return false;
  const prefix = (p: PathSegment[], q: PathSegment[]): boolean => p.length >= q.length && q.every((s, i) => p[i] === s);
  let list = pb;
  let rearranges = b.op === 'move';
  if ((b.op === 'insert' || b.op === 'delete') && typeof pb[pb.length - 1] === 'number') {
    list = pb.slice(0, -1);
    rearranges = true;
  }
  if (!rearranges) return prefix(pa, pb) || prefix(pb, pa);
  return prefix(list, pa);
}

/**
 * Called for one of this user's own changes as the server applied it (`o`,
 * null when it cannot be told): a held change after it, which the server
 * will follow through it from its base, is blocked when the server would
 * hold it back against it (a conflict with the user's own change) or move
 * it (its form already has the own change in it).
 */
function checkHeldPastOwn(e: Entry, o: DocOp | null): void {
  for (const q of e.pending) {
    // One left with nothing by the other change: the server stops there.
    if (q.sent || q.held === null || q.held.blocked || q.localDropped || q.applied) continue;
    if (o === null) {
      q.held.blocked = true;
      continue;
    }
    const mine = localOp(q.local);
    const t = transformOp(mine, o, true);
    if (!t.ok || touches(mine, o) || !samePlace(t.op, mine)) q.held.blocked = true;
  }
}

/**
 * A change undoing what `o` moved, to carry the changes written after it
 * past its undoing: a list insert's element deleted again, a deleted one
 * back (its value is not needed), a moved one moved back, a text edit's
 * positions restored (the deleted text back as placeholders of its
 * length). Null when `o` moves no list element or text position.
 */
function undoShift(o: DocOp): DocOp | null {
  let last: PathSegment | undefined;
  try {
    last = parsePath(o.path).at(-1);
  } catch {
    return null;
  }
  switch (o.op) {
    case 'insert':
      return typeof last === 'number' ? { op: 'delete', path: o.path } : null;
    case 'delete':
      return typeof last === 'number' ? { op: 'insert', path: o.path } : null;
    case 'move':
      return { op: 'move', path: o.path, from: o.to ?? 0, to: o.from ?? 0 };
    case 'text': {
      if (o.text === undefined) return null;
      let deleted = 0;
      for (const c of o.text) {
        if (c.delete === undefined) continue;
        if (!Number.isSafeInteger(c.delete) || c.delete < 1) return null;
        deleted += c.delete;
      }
      // Past any document's size: an edit that never applied.
      if (deleted > MAX_UNDONE_TEXT) return null;
      const undone = o.text.map((c) =>
        c.insert !== undefined ? { delete: Array.from(c.insert).length } : c.delete !== undefined ? { insert: '\u{FFFD}'.repeat(c.delete) } : { ...c },
      );
      return { op: 'text', path: o.path, text: normalizeText(undone) };
    }
  }
  return null;
}

/** The most code points undoShift puts back for a text edit's deletes (a document is far smaller). */
const MAX_UNDONE_TEXT = 1 << 20;

/** `doc` with `l` replayed as the document shown replays it: one that does not apply to it (a text range or move out of bounds, a malformed path) changes nothing. */
function replay(doc: DocumentValue, l: LocalChange): DocumentValue {
  try {
    return applyLocalChange(doc, l);
  } catch {
    return doc;
  }
}

/** Whether the document shown replays `l` on `doc`: one that does not apply to it shows nothing. */
function shows(doc: DocumentValue, l: LocalChange): boolean {
  return replay(doc, l) !== doc;
}

/** Whether two forms of one operation name the same place (path, list indexes, text positions). */
function samePlace(a: DocOp, b: DocOp): boolean {
  return a.op === b.op && a.path === b.path && a.from === b.from && a.to === b.to && JSON.stringify(a.text) === JSON.stringify(b.text);
}

/** The refusal of a manual change that cannot be sent so that the server holds it as a conflict with `held.remote`. */
function localConflict(e: Entry, held: NonNullable<Pending['held']>, l: LocalChange, why: string): RealtimeError {
  return new RealtimeError({
    code: 'LOCAL_CONFLICT',
    message: `${l.operation} ${JSON.stringify(l.path)} was not sent: change ${held.remote.id} by ${held.remote.userId} changed it concurrently on ${e.channel}, and ${why}`,
    retryable: false,
    details: { remoteChange: held.remote },
  });
}

/** The answer for a change left without effect by rebasing before it was sent, as the server gives it. */
function droppedAck(e: Entry, notices: string[]): ChangeAck {
  return { entityType: e.type, entityId: e.id, outcome: 'dropped', applied: false, version: e.version, notices };
}

function localOp(l: LocalChange): DocOp {
  const o: DocOp = { op: l.operation, path: l.path };
  if (l.after !== undefined) o.value = l.after;
  if (l.from !== undefined) o.from = l.from;
  if (l.to !== undefined) o.to = l.to;
  if (l.delta !== undefined) o.delta = l.delta;
  if (l.text !== undefined) o.text = l.text.map((c) => ({ ...c }));
  return o;
}

function toLocal(o: DocOp): LocalChange {
  return { operation: o.op, path: o.path, after: o.value, from: o.from, to: o.to, delta: o.delta, text: o.text };
}

/** Whether a change's meaning depends on positions another change may shift: text, a move, a path through a list. */
function positional(l: LocalChange): boolean {
  if (l.operation === 'text' || l.operation === 'move') return true;
  try {
    return parsePath(l.path).some((s) => typeof s === 'number');
  } catch {
    return false;
  }
}

/**
 * The operation the server applied for `c`, on `doc` (the document before
 * it): its `op`, or, for an event without one, what its operation, path and
 * values say (a text edit as the difference of the strings). Null when it
 * cannot be told (a move without its indexes).
 */
function remoteOp(doc: DocumentValue, c: Change): DocOp | null {
  const o = (c as { op?: unknown }).op;
  if (isRecord(o) && typeof o['op'] === 'string' && typeof o['path'] === 'string') {
    const op: DocOp = { op: o['op'], path: o['path'] };
    if ('value' in o) op.value = o['value'];
    // from and to are left out by the server when 0.
    if (op.op === 'move') {
      op.from = typeof o['from'] === 'number' ? o['from'] : 0;
      op.to = typeof o['to'] === 'number' ? o['to'] : 0;
    }
    if (typeof o['delta'] === 'number' || typeof o['delta'] === 'string') op.delta = o['delta'];
    if (Array.isArray(o['text'])) op.text = o['text'] as NonNullable<DocOp['text']>;
    return op;
  }
  if (typeof c.path !== 'string') return null;
  switch (c.operation) {
    case 'text': {
      const before = getPath(doc, c.path);
      if (typeof before !== 'string' || typeof c.after !== 'string') return null;
      return { op: 'text', path: c.path, text: textDiff(before, c.after) };
    }
    case 'move': {
      const m = c as unknown as Record<string, unknown>;
      if (typeof m['from'] !== 'number' || typeof m['to'] !== 'number') return null;
      return { op: 'move', path: c.path, from: m['from'], to: m['to'] };
    }
    case 'insert':
    case 'update':
    case 'delete':
    case 'increment':
      return { op: c.operation, path: c.path, value: c.after };
  }
  return null;
}

/**
 * The refusal of a change that changes reached as a whole document (stale)
 * when it cannot go out at the head: it has positions, or, on a manual
 * entity, it would overwrite a change among them (`overwrites`). Null
 * when it can.
 */
function rebaseFailed(e: Entry, p: Pending, was: 'sent' | 'sent again'): RealtimeError | null {
  if (!p.stale) return null;
  const { operation, path } = p.local;
  let why: string;
  if (positional(p.local)) why = 'that it could not be rebased past';
  else if (p.overwrites && e.strategy === 'manual') why = 'as a whole document holding another value at its path; sent at the head it would overwrite them with no conflict';
  else return null;
  return new RealtimeError({
    code: 'REBASE_FAILED',
    message: `${operation} ${JSON.stringify(path)} was not ${was}: changes reached ${e.channel} ${why}`,
    retryable: false,
  });
}

/**
 * Manual entities, a whole-document sync to `next`: the changes in
 * between are not known, so no base shows the server those that changed a
 * waiting change's path, and sent at the head it would overwrite them with
 * no conflict. Such a change is marked `overwrites`: one whose path holds
 * a value in `next` that neither the server's document before nor the
 * document it was written on (the user's earlier changes shown) held.
 * Its own earlier changes applied meanwhile are thus not taken for
 * someone else's. An increment is never marked: it adds to whatever value
 * is there.
 */
function markOverwrites(e: Entry, next: DocumentValue): void {
  let shown = e.serverDoc;
  for (const q of e.pending) {
    if (!replayed(q)) continue;
    const at = (d: DocumentValue): unknown => {
      try {
        return getPath(d, q.local.path);
      } catch {
        return undefined;
      }
    };
    // An increment adds to whatever value is there (increments commute):
    // it overwrites no one's change, and a float sum need not match the
    // server's exact one.
    if (q.stale && q.local.operation !== 'increment') {
      const now = at(next);
      if (!sameValue(now, at(e.serverDoc)) && !sameValue(now, at(shown))) q.overwrites = true;
    }
    try {
      shown = applyLocalChange(shown, q.local);
    } catch {
      // a malformed local path shows nothing
    }
  }
}

/**
 * Whether two JSON values are equal (object keys in any order). Walks
 * with a list of pairs still to compare, not by recursion: a document
 * from the server may be nested deeper than the call stack allows.
 */
function sameValue(a: unknown, b: unknown): boolean {
  const todo: [unknown, unknown][] = [[a, b]];
  for (let pair = todo.pop(); pair !== undefined; pair = todo.pop()) {
    const [x, y] = pair;
    if (x === y) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
    if (Array.isArray(x) || Array.isArray(y)) {
      if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) todo.push([x[i], y[i]]);
      continue;
    }
    const rx = x as Record<string, unknown>;
    const ry = y as Record<string, unknown>;
    const keys = Object.keys(rx);
    if (keys.length !== Object.keys(ry).length) return false;
    for (const k of keys) {
      if (!Object.hasOwn(ry, k)) return false;
      todo.push([rx[k], ry[k]]);
    }
  }
  return true;
}

/** Reports whether v is a version: a whole number from 0 to 2^53 - 1. */
function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Drops the earliest resolved conflicts past the newest `keep` (unresolved ones all stay). */
function forgetResolved(conflicts: Map<string, Conflict>, keep: number): void {
  let resolved = 0;
  for (const c of conflicts.values()) if (c.resolved) resolved++;
  for (const [id, c] of conflicts) {
    if (resolved <= keep) return;
    if (c.resolved) {
      conflicts.delete(id);
      resolved--;
    }
  }
}
