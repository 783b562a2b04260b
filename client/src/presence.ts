import { Emitter } from './emitter.js';
import { RealtimeError, isRecord } from './errors.js';
import { utf8Length } from './ids.js';
import type { PresenceData, PresenceStatus, WebSocketMessage } from './types.js';
import { longTimerClock, systemClock, type Clock, type RequestOptions, type WebSocketClient } from './websocket-client.js';

/**
 * Presence: who is here, where, doing what, and their cursor.
 *
 * A PresenceManager speaks the server's presence protocol over one
 * WebSocketClient:
 *
 * - `presence` sets this connection's status, location and activity;
 * - `presence.snapshot` lists the tenant's users (or a room's), kept current
 *   by the `presence` events on `user-presence` and a periodic refresh;
 * - `room.join` / `room.leave` enter and leave rooms, one after another per
 *   room (see RoomLine); a room's `presence` events (join, leave, update)
 *   and `cursor` events arrive on its channel (`room:<name>`);
 * - `cursor` frames, throttled to one per `cursorThrottle` ms per room, and
 *   paced per connection under the server's cursor limit (see CursorPacer).
 *
 * Away detection runs in the browser: no input for `awayTimeout` (5 min by
 * default), or the page hidden, makes this user `away`; the next input
 * makes them `online` again. The server decides away on its own clock too,
 * so a tab that stops sending frames is away for everyone.
 *
 * After every reconnect the manager announces itself again, re-enters its
 * rooms and refreshes its lists.
 */

/** A cursor position in a room: page coordinates, or relative to an element. */
export interface CursorPosition {
  room: string;
  userId: string;
  username: string;
  x?: number;
  y?: number;
  anchor?: CursorAnchor;
  /** Client clock (ms) when the position arrived. */
  updatedAt: number;
}

export interface CursorAnchor {
  elementId: string;
  offsetX?: number;
  offsetY?: number;
}

/** One room as this client sees it. */
export interface RoomPresence {
  room: string;
  /** Users in the room, this user included, one entry per user. */
  usersInRoom: PresenceData[];
  userCount: number;
  onlineCount: number;
  awayCount: number;
  /** Other users' latest cursors. */
  cursors: CursorPosition[];
  /** The server confirmed this connection in the room (false while reconnecting). */
  joined: boolean;
}

/** Everything a PresenceManager knows, as one immutable value. */
export interface PresenceSnapshot {
  /** This user's status as this client sets it. */
  readonly status: PresenceStatus;
  /** This user as the server last described it (null before the first reply). */
  readonly currentUser: PresenceData | null;
  /** The tenant's users that are online or away, this user included. */
  readonly activeUsers: readonly PresenceData[];
  readonly onlineCount: number;
  readonly awayCount: number;
  readonly rooms: Readonly<Record<string, RoomPresence>>;
  /** Why the latest presence request failed, if it did. */
  readonly error: Error | null;
}

export interface PresenceManagerOptions {
  client: WebSocketClient;
  /** This user's id; the server takes identity from the connection, this only marks "me" in lists. Default: the hello ack's. */
  userId?: string;
  username?: string;
  /** Sent with every presence and room.join frame: at most MAX_AVATAR_BYTES (UTF-8), without invisible characters (the constructor throws BAD_REQUEST otherwise). */
  avatar?: string;
  /** At most MAX_LOCATION_BYTES (UTF-8), without invisible characters (the constructor throws BAD_REQUEST otherwise); so is `initialSection`. */
  initialPage?: string;
  initialSection?: string;
  /** At most MAX_ACTIVITY_BYTES (UTF-8), without invisible characters (the constructor throws BAD_REQUEST otherwise). */
  initialActivity?: string;
  /** No input for this long (ms) makes this user away. Default 300000 (5 min); 0 disables. */
  awayTimeout?: number;
  /** A hidden page makes this user away at once. Default true. */
  awayWhenHidden?: boolean;
  /** Smallest gap (ms) between two cursor frames of one room. Default 100. */
  cursorThrottle?: number;
  /** Refresh of the tenant's user list (ms); 0 disables. Default 10000. */
  refreshInterval?: number;
  /** Watch DOM input and visibility for away detection. Default true where `window` exists or a target is given. */
  trackActivity?: boolean;
  /** Where input events are watched. Default `window`. */
  activityTarget?: EventTarget | null;
  /** Whose `visibilityState` is read. Default `document`. */
  visibilityTarget?: (EventTarget & { visibilityState?: string }) | null;
  clock?: Clock;
}

/** What a join says of this user besides the room (see PresenceManager.joinRoom). */
export interface JoinRoomOptions {
  /**
   * This user's location, sent with the join. The server keeps one location
   * per connection, not per room: it replaces the location set before (by
   * setLocation or another room's join) in every room this connection is
   * in, and the latest one set is what the next connection announces.
   */
  location?: { page: string; section?: string | undefined } | undefined;
  /** This user's avatar, sent with the join; replaces the manager's as the location does. */
  avatar?: string | undefined;
}

interface UserEventPayload {
  event: string;
  user: PresenceData;
}

interface RoomEventPayload {
  event: string;
  room: string;
  user: PresenceData;
}

interface SnapshotAck {
  room: string;
  usersInRoom: PresenceData[];
  userCount: number;
  onlineCount: number;
  awayCount: number;
  /** The cursor of the next page (also sent as `nextCursor`); absent or empty on the last. */
  next?: string;
  nextCursor?: string;
}

/** The cursor of the page after `ack`'s; null on the last page. */
function nextPage(ack: SnapshotAck): string | null {
  for (const c of [ack.next, ack.nextCursor]) if (typeof c === 'string' && c !== '') return c;
  return null;
}

interface PresenceAck {
  presence: PresenceData;
  rooms: string[];
}

interface RoomEntry {
  refs: number;
  users: Map<string, PresenceData>;
  /** Event number of the latest event per user in this room (see pruneSeq). */
  seq: Map<string, number>;
  /** The event numbers at which the room.join replies still awaited were asked for. */
  asks: number[];
  /** The server's time (ms) of the latest presence event applied per member (see staleRoomEvent). */
  times: Map<string, number>;
  /** The server's time (ms) of the latest `join` applied per member: only it overrides an older leave. */
  joins: Map<string, number>;
  /**
   * Users whose latest event applied was a leave, with the leave's server
   * time (NaN if it had none): at most MAX_LEFT_PER_ROOM, the oldest leave
   * applied forgotten first.
   */
  left: Map<string, number>;
  userCount: number;
  cursors: Map<string, CursorPosition>;
  joined: boolean;
  /** The `ready` of joins waiting for the room's join on the next connection. */
  waiters: { resolve: (room: RoomPresence) => void; reject: (err: unknown) => void }[];
  off: () => void;
  /** Cursor throttle: when the last frame left and the position waiting for the next slot. */
  lastCursorAt: number;
  pendingCursor: { x?: number; y?: number; anchor?: CursorAnchor } | null;
  /** The room's throttle timer: armed while the room waits out `cursorThrottle`. */
  cursorTimer: unknown;
  /** Sends the room's pending position; what the connection's CursorPacer queues. */
  sendCursor: () => boolean;
}

/**
 * The `room.join` / `room.leave` frames of one room, sent one after another:
 * API Gateway invokes the handler for each frame on its own, so two frames
 * written back to back may be handled in either order (a leave handled
 * after the join that followed it leaves the connection out of a room the
 * client shows as joined). An operation goes out once the one before it is
 * answered (or failed), and is decided when its turn comes.
 */
interface RoomLine {
  /** An operation is on the wire, unanswered. */
  busy: boolean;
  /** Operations waiting for their turn, first first; each returns the answer it waits for, if it sent a frame. */
  waiting: (() => Promise<void> | undefined)[];
  /** The room's latest room.join, queued or unanswered (`sent` once on the wire): a join of the room meanwhile waits for it. */
  join: { sent: boolean } | null;
  /**
   * The released room whose room.leave is queued and not sent yet: the
   * connection is still in the room, so a join meanwhile takes the entry
   * back and the leave is not sent.
   */
  released: RoomEntry | null;
}

export interface PresenceManagerEvents {
  change: PresenceSnapshot;
  cursor: CursorPosition;
}

/** The most UTF-8 bytes of a location's `page`, and of its `section`, that the server keeps. */
export const MAX_LOCATION_BYTES = 128;
/** The most UTF-8 bytes of a presence `activity` that the server keeps. */
export const MAX_ACTIVITY_BYTES = 256;
/** The most UTF-8 bytes of a presence `avatar` URL that the server keeps. */
export const MAX_AVATAR_BYTES = 1024;
/** The most UTF-8 bytes of a cursor anchor's `elementId` (at least 1). */
export const MAX_ANCHOR_BYTES = 256;

/**
 * Refuses, before anything is sent or kept, a presence text the server
 * would refuse: not a string (null and undefined are not checked: the
 * frame sends them as absent or empty), more UTF-8 bytes than `limit` (a
 * lone surrogate counts as the 3 bytes of U+FFFD, which the server makes
 * of it), or fewer than `min`. The error is the server's: BAD_REQUEST, not
 * retryable, with `details {field, bytes, limit}`.
 */
function checkText(field: string, value: unknown, limit: number, min = 0): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string') {
    throw new RealtimeError({ code: 'BAD_REQUEST', message: `presence ${field} must be a string`, retryable: false, details: { field } });
  }
  const bytes = utf8Length(value);
  if (bytes >= min && bytes <= limit) return;
  throw new RealtimeError({
    code: 'BAD_REQUEST',
    message: `presence ${field} of ${bytes} bytes (UTF-8): ${min > 0 ? `${min}..` : 'at most '}${limit} bytes`,
    retryable: false,
    details: { field, bytes, limit },
  });
}

/**
 * A code point the server does not show, and refuses in an avatar, an
 * activity, a page, a section or a cursor anchor's elementId (its
 * internal/ident Visible): a control, format (bidirectional, zero-width),
 * private-use or surrogate code point
 * (a lone surrogate), a line or paragraph separator, a noncharacter, one
 * drawn as nothing (a default-ignorable code point, U+2800), or U+FFFD
 * (what the server makes of an invalid byte).
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Zl}\p{Zp}\p{Noncharacter_Code_Point}\p{Default_Ignorable_Code_Point}\u2800\uFFFD]/u;

const VARIATION_SELECTOR = /^\p{Variation_Selector}$/u;
const STANDARD_VARIATION_BASE = /^[\p{So}\p{Sm}\p{Nd}\p{Script=Han}#*]$/u;
const HAN = /^\p{Script=Han}$/u;
const MONGOLIAN_LETTER = /^(?=\p{Script=Mongolian})\p{L}$/u;

/**
 * Whether the variation selector `vs` may follow `base`, as the server's
 * cleaning of display values keeps it (internal/ident variationBase): the
 * standard selectors after a symbol, digit, '#', '*' or Han ideograph
 * (emoji, keycaps, standardized variants), the ideographic ones after a
 * Han ideograph, the Mongolian ones after a Mongolian letter.
 */
function variationBase(base: string | undefined, vs: string): boolean {
  if (base === undefined || VARIATION_SELECTOR.test(base)) return false;
  const cp = vs.codePointAt(0) ?? 0;
  if (cp >= 0xfe00 && cp <= 0xfe0f) return STANDARD_VARIATION_BASE.test(base);
  if (cp >= 0xe0100 && cp <= 0xe01ef) return HAN.test(base);
  return MONGOLIAN_LETTER.test(base);
}

const PICTOGRAPH = /^[\p{So}\u{1F3FB}-\u{1F3FF}]$/u;
const SHAPED_LETTER = /^(?![\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}\p{Script=Common}])[\p{L}\p{M}]$/u;

/**
 * Whether a zero-width joiner or non-joiner between `before` and `after`
 * can change what is drawn, so that it is taken (the server's
 * internal/ident joins): between two pictographs (an emoji ZWJ sequence,
 * a skin tone counting), or between two letters or marks of a script other
 * than Latin, Greek and Cyrillic (Arabic, Persian, Indic joining forms).
 */
function joinerJoins(before: string | undefined, after: string): boolean {
  if (before === undefined) return false;
  if (PICTOGRAPH.test(before) && PICTOGRAPH.test(after)) return true;
  return SHAPED_LETTER.test(before) && SHAPED_LETTER.test(after);
}

const ZWNJ = 0x200c;
const ZWJ = 0x200d;
const BLACK_FLAG = 0x1f3f4;
const TAG_FIRST = 0xe0020;
const TAG_LAST = 0xe007e;
const CANCEL_TAG = 0xe007f;

/**
 * The number of code points of the tag sequence that `cps` holds from
 * `from` (one or more of U+E0020–U+E007E, then U+E007F), or 0 when none
 * complete starts there (the server's internal/ident tagSequenceLen).
 */
function tagSequenceLength(cps: readonly string[], from: number): number {
  let i = from;
  while (i < cps.length) {
    const cp = cps[i]?.codePointAt(0) ?? 0;
    if (cp >= TAG_FIRST && cp <= TAG_LAST) i++;
    else return cp === CANCEL_TAG && i > from ? i + 1 - from : 0;
  }
  return 0;
}

/**
 * Refuses a presence text (or a cursor anchor's elementId) holding a code
 * point the server refuses in it (see INVISIBLE), as the server does: BAD_REQUEST, not retryable, with
 * `details {field, codePoint}` (the first such one, as `U+XXXX`). Taken, as
 * the server takes them: a variation selector right after a base it varies
 * ("❤️", a keycap, a Han variant); the zero-width joiner and non-joiner
 * between two characters taken that it can join (see joinerJoins: an emoji
 * ZWJ sequence, Persian's ZWNJ; not between Latin letters);
 * the tags of a subdivision flag (U+1F3F4, tags U+E0020–U+E007E, U+E007F).
 */
function checkVisible(field: string, value: unknown): void {
  if (typeof value !== 'string') return;
  const cps = [...value];
  let bad: string | undefined;
  let prev: string | undefined;
  let base: string | undefined; // the last code point taken that is no joiner or selector
  let joinable = false; // the code point before was taken and is no joiner
  for (let i = 0; i < cps.length; i++) {
    const ch = cps[i] ?? '';
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === BLACK_FLAG) {
      const tags = tagSequenceLength(cps, i + 1);
      if (tags > 0) {
        i += tags;
        prev = undefined;
        base = ch;
        joinable = true;
        continue;
      }
    }
    const next = cps[i + 1];
    const joins: boolean =
      (cp === ZWJ || cp === ZWNJ) && joinable && next !== undefined && !INVISIBLE.test(next) && joinerJoins(base, next);
    if (INVISIBLE.test(ch) && !joins && !(VARIATION_SELECTOR.test(ch) && variationBase(prev, ch))) {
      bad = ch;
      break;
    }
    prev = ch;
    joinable = !joins;
    if (!joins && !VARIATION_SELECTOR.test(ch)) base = ch;
  }
  if (bad === undefined) return;
  const codePoint = `U+${(bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new RealtimeError({
    code: 'BAD_REQUEST',
    message: `presence ${field} holds ${codePoint}, a control, format (bidirectional, zero-width) or other invisible character, a private-use code point or a noncharacter`,
    retryable: false,
    details: { field, codePoint },
  });
}

/** The texts of a `presence` or `room.join` frame; an absent one is not checked. */
interface PresenceText {
  page?: string | undefined;
  section?: string | undefined;
  activity?: string | undefined;
  avatar?: string | undefined;
}

/** Checks the texts of a `presence` or `room.join` frame: their length (see checkText), then their characters (see checkVisible). */
function checkPresenceText(t: PresenceText): void {
  const texts = [
    ['page', t.page, MAX_LOCATION_BYTES],
    ['section', t.section, MAX_LOCATION_BYTES],
    ['activity', t.activity, MAX_ACTIVITY_BYTES],
    ['avatar', t.avatar, MAX_AVATAR_BYTES],
  ] as const;
  for (const [field, value, limit] of texts) checkText(field, value, limit);
  for (const [field, value] of texts) checkVisible(field, value);
}

/**
 * Checks a delay option (ms): a number, 0 or more (Infinity waits for
 * ever). NaN would make a timer fire at once (a refresh loop, or away at
 * once), a negative one is meaningless, and a string would be compared as
 * text.
 */
function checkDelay(field: string, value: unknown): void {
  if (value === undefined || (typeof value === 'number' && value >= 0)) return;
  const got = typeof value === 'number' ? String(value) : `a ${typeof value}`;
  throw new RealtimeError({
    code: 'BAD_REQUEST',
    message: `presence option ${field} must be a number of milliseconds >= 0 (got ${got})`,
    retryable: false,
    details: { field },
  });
}

/**
 * The error the PresenceManager constructor throws for these options (a
 * page, section, activity or avatar the server would refuse, or a delay
 * that is not a number of milliseconds >= 0), or null.
 */
export function presenceOptionsError(options: {
  initialPage?: string | undefined;
  initialSection?: string | undefined;
  initialActivity?: string | undefined;
  avatar?: string | undefined;
  awayTimeout?: number | undefined;
  cursorThrottle?: number | undefined;
  refreshInterval?: number | undefined;
}): RealtimeError | null {
  try {
    checkDelay('awayTimeout', options.awayTimeout);
    checkDelay('cursorThrottle', options.cursorThrottle);
    checkDelay('refreshInterval', options.refreshInterval);
    checkPresenceText({
      page: options.initialPage,
      section: options.initialSection,
      activity: options.initialActivity,
      avatar: options.avatar,
    });
    return null;
  } catch (err) {
    if (err instanceof RealtimeError) return err;
    throw err;
  }
}

/**
 * The smallest gap (ms) between two cursor frames of one connection: the
 * server's cursor limit is one frame per 50 ms per connection, whatever the
 * room. Its burst of 2 is left as slack for frames that the network brings
 * closer together than they were sent.
 */
const CURSOR_INTERVAL_MS = 50;

/** The longest a RATE_LIMITED cursor's retryAfterMs holds the next cursor frame back (ms). */
const MAX_CURSOR_BACKOFF_MS = 1000;

/**
 * Paces the cursor frames of one connection, all rooms together: one frame
 * per CURSOR_INTERVAL_MS. Rooms with a position to send wait in line and go
 * round-robin (a room that just sent queues again behind the others), each
 * sending its latest position when its turn comes; so with many rooms every
 * room still gets its cursor, later, instead of the same room's frame being
 * refused each time.
 */
class CursorPacer {
  /** When (clock ms) the next frame may leave. */
  private nextAt = 0;
  /** Rooms waiting for a slot, first in line first. */
  private readonly line: (() => boolean)[] = [];
  private timer: unknown = null;

  constructor(private readonly clock: Clock) {}

  /** Puts a room in line (once) and sends what the free slots allow. */
  enqueue(send: () => boolean): void {
    if (!this.line.includes(send)) this.line.push(send);
    this.pump();
  }

  isQueued(send: () => boolean): boolean {
    return this.line.includes(send);
  }

  /** Takes a room out of line (the room was left). */
  remove(send: () => boolean): void {
    const i = this.line.indexOf(send);
    if (i >= 0) this.line.splice(i, 1);
    if (this.line.length === 0 && this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Holds the next frame back `ms` more (a RATE_LIMITED answer's retryAfterMs, bounded). */
  backOff(ms: unknown): void {
    if (typeof ms !== 'number' || !(ms > 0)) return;
    this.nextAt = Math.max(this.nextAt, this.clock.now() + Math.min(ms, MAX_CURSOR_BACKOFF_MS));
  }

  private pump(): void {
    if (this.timer !== null) return;
    for (;;) {
      const first = this.line[0];
      if (first === undefined) return;
      const now = this.clock.now();
      const wait = this.nextAt - now;
      if (wait > 0) {
        this.timer = this.clock.setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        return;
      }
      this.line.shift();
      // A room with nothing to send (not joined, not connected) keeps the slot for the next.
      if (first()) this.nextAt = now + CURSOR_INTERVAL_MS;
    }
  }
}

/** One CursorPacer per client: the server counts cursor frames per connection. */
const cursorPacers = new WeakMap<WebSocketClient, CursorPacer>();

function cursorPacerOf(client: WebSocketClient, clock: Clock): CursorPacer {
  let pacer = cursorPacers.get(client);
  if (pacer === undefined) {
    pacer = new CursorPacer(clock);
    cursorPacers.set(client, pacer);
  }
  return pacer;
}

const noop = (): void => {};

/**
 * Pages of presence.snapshot (200 users each) a refresh reads at most; a
 * room's list is read in at most as many pages, its join reply's first.
 */
const MAX_SNAPSHOT_PAGES = 50;

const INPUT_EVENTS = ['mousemove', 'mousedown', 'keydown', 'wheel', 'touchstart', 'pointerdown', 'focus'] as const;

/** The room name the server uses: without a `room:` prefix. */
export function canonicalRoom(room: string): string {
  return room.startsWith('room:') ? room.slice(5) : room;
}

/**
 * The channel that carries a room's presence and cursors: always
 * `room:<name>`. Rooms have their own namespace; the server refuses room
 * names that hold `:` (after an optional `room:` prefix) with BAD_REQUEST.
 */
export function roomChannel(room: string): string {
  return `room:${canonicalRoom(room)}`;
}

function countStatuses(users: Iterable<PresenceData>): { online: number; away: number } {
  let online = 0;
  let away = 0;
  for (const u of users) {
    if (u.status === 'online') online++;
    else if (u.status === 'away') away++;
  }
  return { online, away };
}

/**
 * Replaces `users` with a list the server computed when the event counter
 * stood at `asked`, keeping what later events said. A `partial` list (not
 * every page was read) only adds and updates.
 */
function mergeList(
  users: Map<string, PresenceData>,
  seq: Map<string, number>,
  list: PresenceData[],
  asked: number,
  partial = false,
): void {
  const listed = new Set(list.map((u) => u.userId));
  for (const id of [...users.keys()]) {
    if (!partial && !listed.has(id) && (seq.get(id) ?? 0) <= asked) users.delete(id);
  }
  for (const u of list) {
    if ((seq.get(u.userId) ?? 0) <= asked) users.set(u.userId, u);
  }
}

/**
 * Forgets the event numbers of users no longer listed that no reply still
 * awaited needs: an event number only matters against a snapshot asked
 * for before it, so that the older list does not undo the newer event.
 */
function pruneSeq(users: Map<string, PresenceData>, seq: Map<string, number>, asks: readonly number[]): void {
  const oldest = asks.length > 0 ? Math.min(...asks) : Infinity;
  for (const [id, n] of seq) {
    if (!users.has(id) && n <= oldest) seq.delete(id);
  }
}

/** The most users who left a room that the room remembers (see RoomEntry.left). */
const MAX_LEFT_PER_ROOM = 500;

/**
 * How far (ms) an `update` or a cursor must be past a user's leave to bring
 * them back without a join: the events' times come from different server
 * instances, whose clocks may be apart.
 */
const LEAVE_SKEW_TOLERANCE_MS = 5_000;

/** The server's time (ms) of an event: its envelope's `timestamp`; NaN when it has none. */
function eventTime(m: WebSocketMessage): number {
  return typeof m.timestamp === 'string' ? Date.parse(m.timestamp) : NaN;
}

/**
 * Reports whether a room's event about a user (`t` its server time) is
 * older than what the room already applied for that user, and is to be
 * ignored. The server delivers events at least once, and in AWS the
 * events of separate invocations may arrive in another order than they
 * happened. Their times are those of the announcing handlers, on server
 * instances whose clocks may be apart by milliseconds or more:
 *
 * - a join of a user who left is taken when it is not older than the
 *   leave (a tie is a return); an update or a cursor only when it is more
 *   than LEAVE_SKEW_TOLERANCE_MS newer (the server takes cursors from
 *   members only): a tab that closes sends an update, then its leave, from
 *   instances whose clocks may be apart, and a user (or cursor) wrongly
 *   shown stays until the next reconnect, while one wrongly missing is
 *   back with their next join. Without a time on either side, a join is
 *   taken as a return and an update or a cursor is not;
 * - a leave is ignored only when a join newer than it was applied for the
 *   member (the leave of an old tab delivered after the new tab's join),
 *   never because of an update;
 * - a join or update older than the latest join or update applied for a
 *   member (one overtaken by a newer one) is ignored.
 */
function staleRoomEvent(entry: RoomEntry, userId: string, kind: 'join' | 'leave' | 'update' | 'cursor', t: number): boolean {
  const leftAt = entry.left.get(userId);
  if (leftAt !== undefined && kind !== 'leave') {
    if (Number.isNaN(t) || Number.isNaN(leftAt)) return kind !== 'join';
    return kind === 'join' ? t < leftAt : t <= leftAt + LEAVE_SKEW_TOLERANCE_MS;
  }
  if (kind === 'cursor') return false;
  if (kind === 'leave') {
    const joinedAt = entry.joins.get(userId);
    return joinedAt !== undefined && t < joinedAt;
  }
  const last = entry.times.get(userId);
  return last !== undefined && t < last;
}

/** Records a member's leave at `t` (see RoomEntry.left), keeping the latest leave of a user. */
function rememberLeave(entry: RoomEntry, userId: string, t: number): void {
  entry.times.delete(userId);
  entry.joins.delete(userId);
  const prev = entry.left.get(userId);
  entry.left.delete(userId);
  entry.left.set(userId, prev === undefined || Number.isNaN(prev) ? t : Number.isNaN(t) ? prev : Math.max(prev, t));
  if (entry.left.size > MAX_LEFT_PER_ROOM) {
    const oldest = entry.left.keys().next();
    if (oldest.done !== true) entry.left.delete(oldest.value);
  }
}

/**
 * Brings a room's event times in line with a list just merged: a user who
 * left and is listed again came back (the leave's time is kept as the
 * time of their latest event and join), and a user no longer listed has
 * no time.
 */
function settleTimes(entry: RoomEntry): void {
  for (const [id, t] of entry.left) {
    if (!entry.users.has(id)) continue;
    entry.left.delete(id);
    if (Number.isNaN(t)) continue;
    entry.times.set(id, t);
    entry.joins.set(id, t);
  }
  for (const id of entry.times.keys()) if (!entry.users.has(id)) entry.times.delete(id);
  for (const id of entry.joins.keys()) if (!entry.users.has(id)) entry.joins.delete(id);
}

/**
 * Merges into a room a list of its members asked for at event number
 * `asked` (see mergeList); a `partial` one (pages left unread) only adds
 * and updates. The room then counts the users listed, or, when the list is
 * partial, at least the `userCount` the server gave for the whole room.
 */
function mergeRoom(entry: RoomEntry, list: PresenceData[], asked: number, partial: boolean, userCount: number): void {
  mergeList(entry.users, entry.seq, list, asked, partial);
  settleTimes(entry);
  entry.userCount = partial ? Math.max(userCount, entry.users.size) : entry.users.size;
}

/** Settles with the room's next join. */
function joined(entry: RoomEntry): Promise<RoomPresence> {
  return new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
}

/** Removes one occurrence of `n` from `asks`. */
function settleAsk(asks: number[], n: number): void {
  const i = asks.indexOf(n);
  if (i >= 0) asks.splice(i, 1);
}

/** Reports whether two values of a room hold the same things (the same entries, by identity). */
function sameRoom(a: RoomPresence, b: RoomPresence): boolean {
  const sameList = <T>(x: readonly T[], y: readonly T[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.room === b.room &&
    a.userCount === b.userCount &&
    a.onlineCount === b.onlineCount &&
    a.awayCount === b.awayCount &&
    a.joined === b.joined &&
    sameList(a.usersInRoom, b.usersInRoom) &&
    sameList(a.cursors, b.cursors)
  );
}

function byName(a: PresenceData, b: PresenceData): number {
  return (a.username || a.userId).localeCompare(b.username || b.userId) || a.userId.localeCompare(b.userId);
}

export class PresenceManager {
  private readonly client: WebSocketClient;
  private readonly clock: Clock;
  /** Paces cursor frames under the server's per-connection cursor limit, shared by every manager of the client. */
  private readonly cursors: CursorPacer;
  private readonly emitter = new Emitter<PresenceManagerEvents>();
  private readonly opts: Required<
    Pick<PresenceManagerOptions, 'awayTimeout' | 'awayWhenHidden' | 'cursorThrottle' | 'refreshInterval'>
  >;
  private readonly activityTarget: EventTarget | null;
  private readonly visibilityTarget: (EventTarget & { visibilityState?: string }) | null;

  private readonly selfId: string | undefined;
  private avatar: string | undefined;
  private page: string;
  private section: string | undefined;
  private activity: string | undefined;
  /** Set by setStatus; null lets away detection decide. */
  private manualStatus: PresenceStatus | null = null;
  private autoAway = false;
  private lastInputAt: number;
  private lastActiveSentAt = 0;

  private currentUser: PresenceData | null = null;
  private readonly users = new Map<string, PresenceData>();
  /** Events and replies travel different paths, so a list reply may be older than an event already applied: each event is numbered. */
  private eventSeq = 0;
  private readonly userSeq = new Map<string, number>();
  /** The event numbers at which the presence.snapshot replies still awaited were asked for. */
  private readonly userAsks: number[] = [];
  private readonly rooms = new Map<string, RoomEntry>();
  /** The rooms with room operations queued or unanswered (see RoomLine). */
  private readonly lines = new Map<string, RoomLine>();
  /** Counts the connections that closed: an operation queued on one is not sent on the next. */
  private closes = 0;
  private error: Error | null = null;

  private started = false;
  /** Lets go of `user-presence` (see WebSocketClient.retain). */
  private releaseChannel: () => void = () => {};
  private offs: (() => void)[] = [];
  private idleTimer: unknown = null;
  private refreshTimer: unknown = null;
  private snap: PresenceSnapshot;

  constructor(options: PresenceManagerOptions) {
    this.client = options.client;
    // Delays come from options (awayTimeout, refreshInterval, cursorThrottle)
    // and may pass 2^31 - 1 ms, where a bare setTimeout fires at once.
    this.clock = longTimerClock(options.clock ?? systemClock);
    this.cursors = cursorPacerOf(this.client, this.clock);
    this.opts = {
      awayTimeout: options.awayTimeout ?? 300_000,
      awayWhenHidden: options.awayWhenHidden ?? true,
      cursorThrottle: options.cursorThrottle ?? 100,
      refreshInterval: options.refreshInterval ?? 10_000,
    };
    const hasWindow = typeof window !== 'undefined';
    const track =
      options.trackActivity ?? (hasWindow || options.activityTarget != null || options.visibilityTarget != null);
    this.activityTarget = track ? (options.activityTarget ?? (hasWindow ? window : null)) : null;
    this.visibilityTarget = track
      ? (options.visibilityTarget ?? (typeof document !== 'undefined' ? document : null))
      : null;
    const refused = presenceOptionsError(options);
    if (refused !== null) throw refused;
    this.selfId = options.userId;
    this.avatar = options.avatar;
    this.page = options.initialPage ?? '';
    this.section = options.initialSection;
    this.activity = options.initialActivity;
    this.lastInputAt = this.clock.now();
    this.snap = this.buildSnapshot();
    // A room entered while not connected waits for the next connection,
    // which a destroyed client never makes: its ready settles here.
    this.client.on('destroy', () => this.onDestroy());
  }

  private onDestroy(): void {
    for (const [room, entry] of [...this.rooms]) {
      for (const w of entry.waiters.splice(0)) w.reject(new RealtimeError({ code: 'CLIENT_DESTROYED', message: 'the client was destroyed' }));
      this.dropRoom(room, entry);
    }
    this.stop();
  }

  /** This user's id: the option, or the server's from the hello ack. */
  get userId(): string | undefined {
    return this.client.session?.userId ?? this.selfId;
  }

  readonly getSnapshot = (): PresenceSnapshot => this.snap;

  readonly subscribe = (listener: () => void): (() => void) => this.emitter.on('change', () => listener());

  on<K extends keyof PresenceManagerEvents>(event: K, listener: (e: PresenceManagerEvents[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Starts announcing this user and following the tenant's presence. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.releaseChannel = this.client.retain('user-presence');
    this.client.subscribe('user-presence').catch((err: unknown) => this.fail(err));
    this.offs.push(
      this.client.onChannel('user-presence', (m) => this.onUserEvent(m)),
      this.client.on('ready', () => this.onReady()),
      this.client.on('close', () => this.onClose()),
    );
    if (this.activityTarget !== null) {
      const onInput = (): void => this.noteInput();
      for (const ev of INPUT_EVENTS) this.activityTarget.addEventListener(ev, onInput, { passive: true });
      this.offs.push(() => {
        for (const ev of INPUT_EVENTS) this.activityTarget?.removeEventListener(ev, onInput);
      });
    }
    if (this.visibilityTarget !== null) {
      const onVisibility = (): void => this.onVisibility();
      this.visibilityTarget.addEventListener('visibilitychange', onVisibility);
      this.offs.push(() => this.visibilityTarget?.removeEventListener('visibilitychange', onVisibility));
    }
    this.armIdleTimer();
    if (this.client.connected) this.onReady();
  }

  /** Stops: leaves every room, stops timers and listeners. The client stays connected. */
  stop(): void {
    if (!this.started) return;
    this.started = false;
    for (const off of this.offs) off();
    this.offs = [];
    for (const [room, entry] of [...this.rooms]) this.dropRoom(room, entry);
    this.clearTimer('idleTimer');
    this.clearTimer('refreshTimer');
    this.releaseChannel();
    this.releaseChannel = () => {};
    this.update();
  }

  /**
   * Sets this user's status; `online` hands the decision back to away
   * detection. `offline` (appear offline) also goes in the query of every
   * later connection (`status=offline`, see WebSocketClient.setConnectParam),
   * so that the server starts each new connection hidden: the hello and
   * resubscribes that go out before this manager's presence frame, and
   * which the server may handle first, announce nothing.
   */
  setStatus(status: PresenceStatus): void {
    this.manualStatus = status === 'online' ? null : status;
    this.client.setConnectParam('status', status === 'offline' ? 'offline' : null);
    if (status === 'online') {
      this.autoAway = false;
      this.lastInputAt = this.clock.now();
      this.armIdleTimer();
    }
    this.announce({ active: status === 'online' });
  }

  /**
   * Sets this user's location. A `page` or `section` over MAX_LOCATION_BYTES
   * (UTF-8), or holding an invisible character (see checkVisible), throws a
   * RealtimeError BAD_REQUEST: nothing is sent, and the location set before
   * stays.
   */
  setLocation(page: string, section?: string): void {
    checkPresenceText({ page, section });
    this.page = page;
    this.section = section;
    this.announce({});
  }

  /**
   * Sets this user's activity. One over MAX_ACTIVITY_BYTES (UTF-8), or
   * holding an invisible character (see checkVisible), throws a
   * RealtimeError BAD_REQUEST: nothing is sent, and the activity set before
   * stays.
   */
  setActivity(activity: string): void {
    checkPresenceText({ activity });
    this.activity = activity;
    this.announce({});
  }

  /**
   * Sends this user's cursor to every room it is in (see updateCursor).
   * The seed's `updateMousePosition`. Nothing is sent while this user
   * appears offline.
   */
  updateMousePosition(x: number, y: number): void {
    for (const room of this.rooms.keys()) this.updateCursor(room, { x, y });
  }

  /**
   * Sends a cursor position to a room, at most one frame per `cursorThrottle` ms (the latest wins).
   * The cursor frames of all rooms share the connection's limit (one per
   * CURSOR_INTERVAL_MS): with several rooms they take turns, each sending
   * its latest position when its turn comes. An anchor whose `elementId` is empty, over MAX_ANCHOR_BYTES (UTF-8)
   * or holding an invisible character (see checkVisible: the server relays it to the room as sent) throws a
   * RealtimeError BAD_REQUEST; nothing is sent. While this user appears offline (`setStatus('offline')`)
   * nothing is sent either, a position waiting for its turn included: a cursor names its sender, and the
   * server refuses it (FORBIDDEN, reason HIDDEN).
   */
  updateCursor(room: string, position: { x?: number; y?: number; anchor?: CursorAnchor }): void {
    if (position.anchor !== undefined) {
      checkText('elementId', position.anchor.elementId ?? '', MAX_ANCHOR_BYTES, 1);
      checkVisible('elementId', position.anchor.elementId);
    }
    const entry = this.rooms.get(canonicalRoom(room));
    if (entry === undefined || this.manualStatus === 'offline') return;
    this.noteInput();
    entry.pendingCursor = position;
    if (entry.cursorTimer !== null || this.cursors.isQueued(entry.sendCursor)) return;
    const wait = entry.lastCursorAt + this.opts.cursorThrottle - this.clock.now();
    if (wait <= 0) {
      this.cursors.enqueue(entry.sendCursor);
      return;
    }
    entry.cursorTimer = this.clock.setTimeout(() => {
      entry.cursorTimer = null;
      this.cursors.enqueue(entry.sendCursor);
    }, wait);
  }

  /**
   * Enters a room (reference-counted: each call needs its own release).
   * Resolves with the room once the server confirmed it. A room's
   * `room.join` and `room.leave` go out one after another (see RoomLine):
   * a room released and entered again before its leave went out is taken
   * back without a frame, and a join while the room's join is unanswered
   * waits for it. `room.join` is
   * sent only while connected: a room entered while not connected is
   * joined when the connection is back (if still held then), and `ready`
   * waits for that join; it rejects with CANCELLED when the room is
   * released first.
   * `options` set this user's location and avatar for the connection (see
   * JoinRoomOptions); when the room is already joined they go out as a
   * `presence` update instead. Options the server would refuse (a page or
   * section over MAX_LOCATION_BYTES, an avatar over MAX_AVATAR_BYTES, in
   * UTF-8, or any of them holding an invisible character, see checkVisible) are refused here: `ready` rejects with BAD_REQUEST (also set as
   * `error`), nothing is sent, the room is not entered and the location
   * and avatar set before stay.
   */
  joinRoom(room: string, options: JoinRoomOptions = {}): { release: () => void; ready: Promise<RoomPresence> } {
    const name = canonicalRoom(room);
    const { location, avatar } = options;
    try {
      checkPresenceText({ page: location?.page, section: location?.section, avatar });
    } catch (err) {
      this.fail(err);
      return { release: () => {}, ready: Promise.reject(err as Error) };
    }
    let moved = false;
    if (location !== undefined && (location.page !== this.page || location.section !== this.section)) {
      this.page = location.page;
      this.section = location.section;
      moved = true;
    }
    if (avatar !== undefined && avatar !== this.avatar) {
      this.avatar = avatar;
      moved = true;
    }
    let entry = this.rooms.get(name);
    const line = this.lines.get(name);
    if (entry === undefined && line?.released != null) {
      // Released, and its room.leave has not gone out: the connection is
      // still in the room (or will be, when the join before answers), so
      // it is taken back and no frame is sent.
      entry = line.released;
      line.released = null;
      entry.refs = 0;
      this.rooms.set(name, entry);
    }
    if (entry === undefined) {
      const off = this.client.onChannel(roomChannel(name), (m) => this.onRoomFrame(name, created, m));
      const created: RoomEntry = {
        refs: 0,
        users: new Map(),
        seq: new Map(),
        asks: [],
        times: new Map(),
        joins: new Map(),
        left: new Map(),
        userCount: 0,
        cursors: new Map(),
        joined: false,
        waiters: [],
        off,
        lastCursorAt: 0,
        pendingCursor: null,
        cursorTimer: null,
        sendCursor: () => this.flushCursor(name, created),
      };
      entry = created;
      this.rooms.set(name, entry);
    }
    entry.refs++;
    let ready: Promise<RoomPresence>;
    if (entry.joined) {
      ready = Promise.resolve(this.roomOf(name, entry));
      if (moved) this.announce({});
    } else {
      // Settled by the room's next join: the one queued or unanswered, or
      // a new one; a join that left before this location or avatar was set
      // is followed by another that carries them. While not connected, the
      // next connection joins the room (onReady).
      ready = joined(entry);
      const pending = line?.join ?? null;
      if (this.client.connected && (pending === null || (pending.sent && moved))) this.queueJoin(name);
    }
    this.update();
    let released = false;
    return {
      ready,
      release: () => {
        if (released) return;
        released = true;
        this.leaveRoom(name);
      },
    };
  }

  /** Drops one reference to a room; the last one leaves it. */
  leaveRoom(room: string): void {
    const name = canonicalRoom(room);
    const entry = this.rooms.get(name);
    if (entry === undefined) return;
    if (--entry.refs > 0) return;
    this.dropRoom(name, entry);
    this.update();
  }

  /**
   * Asks the server for the tenant's users again: every page of
   * presence.snapshot (at most 50 pages of 200), merged as one list.
   */
  refresh(): Promise<void> {
    const asked = this.eventSeq;
    this.userAsks.push(asked);
    return this.readUsers().then(
      ({ users, partial }) => {
        settleAsk(this.userAsks, asked);
        mergeList(this.users, this.userSeq, users, asked, partial);
        pruneSeq(this.users, this.userSeq, this.userAsks);
        this.update();
      },
      (err: unknown) => {
        settleAsk(this.userAsks, asked);
        pruneSeq(this.users, this.userSeq, this.userAsks);
        this.fail(err);
      },
    );
  }

  /** The tenant's users, page after page; `partial` when pages were left unread. */
  private readUsers(): Promise<{ users: PresenceData[]; partial: boolean }> {
    return this.readPages(undefined, undefined, MAX_SNAPSHOT_PAGES, {}, () => true);
  }

  /**
   * Reads presence.snapshot pages of 200 users of `room` (of the tenant
   * without one) from `cursor` on (the first page without one): at most
   * `pages` of them, while `wanted()` holds. `partial` when pages were left
   * unread; `userCount` is the server's count of the whole room (or
   * tenant), from the last page read.
   */
  private async readPages(
    room: string | undefined,
    cursor: string | undefined,
    pages: number,
    options: RequestOptions,
    wanted: () => boolean,
  ): Promise<{ users: PresenceData[]; partial: boolean; userCount: number }> {
    const users: PresenceData[] = [];
    let userCount = 0;
    let next = cursor;
    for (let page = 0; page < pages && wanted(); page++) {
      const payload: Record<string, unknown> = { limit: 200 };
      if (room !== undefined) payload['room'] = room;
      if (next !== undefined) payload['cursor'] = next;
      const ack = await this.client.request<'presence.snapshot', SnapshotAck>('presence.snapshot', { payload }, options);
      users.push(...ack.usersInRoom);
      userCount = ack.userCount;
      const after = nextPage(ack);
      if (after === null) return { users, partial: false, userCount };
      next = after;
    }
    return { users, partial: true, userCount };
  }

  destroy(): void {
    this.stop();
    if (this.manualStatus === 'offline') this.client.setConnectParam('status', null);
    this.emitter.removeAll();
  }

  // ---- internals ----

  private get effectiveStatus(): PresenceStatus {
    if (this.manualStatus !== null) return this.manualStatus;
    return this.autoAway ? 'away' : 'online';
  }

  private presencePayload(extra: Record<string, unknown>): Record<string, unknown> {
    const p: Record<string, unknown> = {
      status: this.effectiveStatus,
      location: { page: this.page, section: this.section ?? '' },
      activity: this.activity ?? '',
      ...extra,
    };
    if (this.avatar !== undefined) p['avatar'] = this.avatar;
    return p;
  }

  private announce(extra: Record<string, unknown>): void {
    if (!this.started || !this.client.connected) return;
    if (extra['active'] === true) this.lastActiveSentAt = this.clock.now();
    this.client
      .request<'presence', PresenceAck>('presence', { payload: this.presencePayload(extra) }, { queue: false })
      .then(
        (ack) => {
          this.currentUser = ack.presence;
          this.users.set(ack.presence.userId, ack.presence);
          for (const entry of this.rooms.values()) {
            if (entry.users.has(ack.presence.userId)) entry.users.set(ack.presence.userId, ack.presence);
          }
          this.error = null;
          this.update();
        },
        (err: unknown) => this.fail(err),
      );
  }

  /**
   * Forgets a room and leaves it on the server, after the room's operations
   * before (see RoomLine). Until the leave goes out, the entry keeps
   * following the room's channel, for a join that takes it back.
   */
  private dropRoom(room: string, entry: RoomEntry): void {
    this.clock.clearTimeout(entry.cursorTimer);
    entry.cursorTimer = null;
    entry.pendingCursor = null;
    this.cursors.remove(entry.sendCursor);
    this.rooms.delete(room);
    for (const w of entry.waiters.splice(0)) {
      w.reject(new RealtimeError({ code: 'CANCELLED', message: `left room ${room} before joining it` }));
    }
    if (!this.client.connected) {
      entry.off();
      return;
    }
    const line = this.lineOf(room);
    line.released?.off();
    line.released = entry;
    const at = this.closes;
    this.queueRoomOp(room, line, () => {
      const released = line.released;
      // Taken back by a join, or already left by an earlier leave.
      if (released === null) return undefined;
      line.released = null;
      released.off();
      if (at !== this.closes || !this.client.connected) return undefined;
      return this.client.request('room.leave', { payload: { room } }, { queue: false }).then(noop, noop);
    });
  }

  /**
   * Queues a room.join of `room` on the current connection; when its turn
   * comes it is sent if the room is still held, with the presence of then.
   */
  private queueJoin(room: string): void {
    const line = this.lineOf(room);
    const join = { sent: false };
    line.join = join;
    const at = this.closes;
    this.queueRoomOp(room, line, () => {
      if (!this.rooms.has(room) || at !== this.closes || !this.client.connected) {
        if (line.join === join) line.join = null;
        return undefined;
      }
      join.sent = true;
      return this.sendJoin(room, () => line.join === join).finally(() => {
        if (line.join === join) line.join = null;
      });
    });
  }

  private lineOf(room: string): RoomLine {
    let line = this.lines.get(room);
    if (line === undefined) {
      line = { busy: false, waiting: [], join: null, released: null };
      this.lines.set(room, line);
    }
    return line;
  }

  /** Runs `op` when the room's operations before it are answered: now, if none is waiting. */
  private queueRoomOp(room: string, line: RoomLine, op: () => Promise<void> | undefined): void {
    line.waiting.push(op);
    if (!line.busy) this.nextRoomOp(room, line);
  }

  private nextRoomOp(room: string, line: RoomLine): void {
    // Busy while an operation runs too: one it causes waits its turn.
    line.busy = true;
    for (let op = line.waiting.shift(); op !== undefined; op = line.waiting.shift()) {
      let answer: Promise<void> | undefined;
      try {
        answer = op();
      } catch (err) {
        this.fail(err);
      }
      if (answer !== undefined) {
        const next = (): void => this.nextRoomOp(room, line);
        void answer.then(next, next);
        return;
      }
    }
    line.busy = false;
    if (line.join === null && line.released === null && this.lines.get(room) === line) this.lines.delete(room);
  }

  /**
   * Joins `room` on the current connection; settles (never rejects) with
   * the answer. Bound to it (`queue: false`, and `hold: false` for a
   * planned reconnect too): a join held for the next
   * connection could enter a room released meanwhile; the next connection
   * joins the rooms held then (onReady). `last` tells whether no later
   * join of the room is queued: a failure is then reported to the room's
   * waiting joins, otherwise the later join settles them.
   *
   * The reply lists the room's first page. When more follow, the join is
   * confirmed with that page added (removing no one: the members it does
   * not list may be on the next pages), and the rest is read with
   * presence.snapshot (see readRoomRest) before the answer settles, so a
   * leave of the room waits for it.
   */
  private sendJoin(room: string, last: () => boolean): Promise<void> {
    const asked = this.eventSeq;
    const asking = this.rooms.get(room);
    asking?.asks.push(asked);
    const at = this.closes;
    const settle = (): void => {
      if (asking === undefined) return;
      settleAsk(asking.asks, asked);
      pruneSeq(asking.users, asking.seq, asking.asks);
    };
    return this.client
      .request<'room.join', SnapshotAck>('room.join', { payload: this.presencePayload({ room, active: true }) }, { queue: false, hold: false })
      .then(
        async (ack) => {
          const entry = this.rooms.get(room);
          if (entry === undefined) {
            settle();
            return;
          }
          const more = nextPage(ack);
          // The join that asked reads the rest; its ask stays until then.
          const next = entry === asking ? more : null;
          if (entry === asking && more === null) settleAsk(entry.asks, asked);
          mergeRoom(entry, ack.usersInRoom, asked, more !== null, ack.userCount);
          pruneSeq(entry.users, entry.seq, entry.asks);
          entry.joined = true;
          this.error = null;
          this.update();
          const value = this.roomOf(room, entry);
          for (const w of entry.waiters.splice(0)) w.resolve(value);
          if (next !== null) await this.readRoomRest(room, entry, ack.usersInRoom, next, asked, at);
        },
        (err: unknown) => {
          settle();
          // Cut off by a drop: the next connection joins the room again.
          if (err instanceof RealtimeError && err.code === 'DISCONNECTED') return;
          const entry = this.rooms.get(room);
          if (entry !== undefined && last()) for (const w of entry.waiters.splice(0)) w.reject(err);
          this.fail(err);
        },
      );
  }

  /**
   * Reads the pages of a room after its join reply's (`first`, asked for at
   * event number `asked`, on the connection counted `at`), at most
   * MAX_SNAPSHOT_PAGES in all, and merges the whole list: the members no
   * page lists, and no event since `asked` brought, are gone. When pages are
   * left unread the list only adds and updates. A room released, or a
   * connection closed, stops the reading and nothing more is merged (the
   * next connection joins again); a failed page is reported as the error
   * and leaves the room as the first page left it. Never rejects.
   */
  private async readRoomRest(room: string, entry: RoomEntry, first: PresenceData[], cursor: string, asked: number, at: number): Promise<void> {
    const wanted = (): boolean => this.rooms.get(room) === entry && at === this.closes;
    try {
      const rest = await this.readPages(room, cursor, MAX_SNAPSHOT_PAGES - 1, { queue: false, hold: false }, wanted);
      if (!wanted()) return;
      mergeRoom(entry, [...first, ...rest.users], asked, rest.partial, rest.userCount);
      this.update();
    } catch (err) {
      // Cut off by a drop: the next connection joins the room again.
      if (!(err instanceof RealtimeError && err.code === 'DISCONNECTED')) this.fail(err);
    } finally {
      settleAsk(entry.asks, asked);
      pruneSeq(entry.users, entry.seq, entry.asks);
    }
  }

  private onReady(): void {
    if (!this.started) return;
    this.announce({ active: !this.autoAway && this.manualStatus === null });
    for (const [room, entry] of this.rooms) {
      entry.joined = false;
      this.queueJoin(room);
    }
    void this.refresh();
    this.scheduleRefresh();
  }

  private onClose(): void {
    this.closes++;
    for (const entry of this.rooms.values()) {
      entry.joined = false;
      entry.cursors.clear();
    }
    // A new connection starts in no room: a released room is gone.
    for (const line of this.lines.values()) {
      line.released?.off();
      line.released = null;
    }
    this.clearTimer('refreshTimer');
    this.update();
  }

  private scheduleRefresh(): void {
    this.clearTimer('refreshTimer');
    if (this.opts.refreshInterval <= 0) return;
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = null;
      if (!this.started || !this.client.connected) return;
      // The server counts a snapshot request as activity: while this user
      // is away, events alone keep the list current.
      if (this.effectiveStatus !== 'online') {
        this.scheduleRefresh();
        return;
      }
      void this.refresh().finally(() => this.scheduleRefresh());
    }, this.opts.refreshInterval);
  }

  private onUserEvent(m: WebSocketMessage): void {
    if (m.type !== 'presence' || !isRecord(m.payload)) return;
    const p = m.payload as unknown as UserEventPayload;
    if (!isRecord(p.user) || typeof p.user.userId !== 'string') return;
    this.userSeq.set(p.user.userId, ++this.eventSeq);
    if (p.event === 'offline' || p.user.status === 'offline') {
      this.users.delete(p.user.userId);
      // Kept only while a snapshot asked for before this event is awaited.
      if (this.userAsks.length === 0) this.userSeq.delete(p.user.userId);
    } else this.users.set(p.user.userId, p.user);
    this.update();
  }

  /**
   * A frame of a room's channel, for `entry`: the room held, or released
   * with its leave not sent yet (kept current for a join that takes it
   * back, without telling anyone).
   */
  private onRoomFrame(room: string, entry: RoomEntry, m: WebSocketMessage): void {
    if (!isRecord(m.payload)) return;
    const held = this.rooms.get(room) === entry;
    if (m.type === 'cursor') {
      const p = m.payload;
      const userId = typeof p['userId'] === 'string' ? p['userId'] : (m.userId ?? '');
      if (userId === '' || userId === this.userId) return;
      // A cursor of a member who left, that their leave overtook.
      if (staleRoomEvent(entry, userId, 'cursor', eventTime(m))) return;
      const c: CursorPosition = {
        room,
        userId,
        username: typeof p['username'] === 'string' ? p['username'] : userId,
        updatedAt: this.clock.now(),
      };
      if (typeof p['x'] === 'number') c.x = p['x'];
      if (typeof p['y'] === 'number') c.y = p['y'];
      if (isRecord(p['anchor']) && typeof p['anchor']['elementId'] === 'string') c.anchor = p['anchor'] as unknown as CursorAnchor;
      entry.cursors.set(userId, c);
      if (!held) return;
      this.emitter.emit('cursor', c);
      this.update();
      return;
    }
    if (m.type !== 'presence') return;
    const p = m.payload as unknown as RoomEventPayload;
    if (!isRecord(p.user) || typeof p.user.userId !== 'string') return;
    const id = p.user.userId;
    const t = eventTime(m);
    const kind = p.event === 'leave' ? 'leave' : p.event === 'join' ? 'join' : 'update';
    if (staleRoomEvent(entry, id, kind, t)) return;
    const had = entry.users.has(id);
    entry.seq.set(id, ++this.eventSeq);
    if (kind === 'leave') {
      entry.users.delete(id);
      entry.cursors.delete(id);
      rememberLeave(entry, id, t);
      if (entry.asks.length === 0) entry.seq.delete(id);
      if (had) entry.userCount = Math.max(0, entry.userCount - 1);
    } else {
      entry.users.set(id, p.user);
      entry.left.delete(id);
      // Not stale: no older than the latest time kept.
      if (!Number.isNaN(t)) {
        entry.times.set(id, Math.max(t, entry.times.get(id) ?? t));
        if (kind === 'join') entry.joins.set(id, Math.max(t, entry.joins.get(id) ?? t));
      }
      if (!had) entry.userCount++;
    }
    if (p.user.status !== 'offline') {
      this.users.set(id, p.user);
      this.userSeq.set(id, this.eventSeq);
    }
    this.update();
  }

  /** Sends the room's pending position, if it can; reports whether a frame left. */
  private flushCursor(room: string, entry: RoomEntry): boolean {
    const pos = entry.pendingCursor;
    entry.pendingCursor = null;
    if (pos === null || !entry.joined || !this.client.connected || this.manualStatus === 'offline') return false;
    entry.lastCursorAt = this.clock.now();
    const payload: Record<string, unknown> = { room };
    if (pos.x !== undefined && pos.y !== undefined) {
      payload['x'] = Math.round(pos.x * 10) / 10;
      payload['y'] = Math.round(pos.y * 10) / 10;
    }
    if (pos.anchor !== undefined) payload['anchor'] = pos.anchor;
    // Cursors are ephemeral: never queued, never sent again (after a drop
    // or a RATE_LIMITED answer): the next move sends a fresh position. A
    // RATE_LIMITED answer holds the connection's next cursor frame back.
    this.client.request('cursor', { payload }, { queue: false, retry: false }).catch((err: unknown) => {
      if (err instanceof RealtimeError && err.code === 'RATE_LIMITED') this.cursors.backOff(err.details?.['retryAfterMs']);
    });
    return true;
  }

  private noteInput(): void {
    const now = this.clock.now();
    this.lastInputAt = now;
    if (this.autoAway) {
      this.autoAway = false;
      this.armIdleTimer();
      this.announce({ active: true });
      return;
    }
    this.armIdleTimer();
    // Tell the server now and then that this user is active, so that its
    // own away clock agrees with ours.
    const every = Math.min(60_000, this.opts.awayTimeout > 0 ? this.opts.awayTimeout / 2 : 60_000);
    if (this.manualStatus === null && now - this.lastActiveSentAt >= every) this.announce({ active: true });
  }

  private onVisibility(): void {
    const hidden = this.visibilityTarget?.visibilityState === 'hidden';
    if (hidden && this.opts.awayWhenHidden) this.goAway();
    else if (!hidden) this.noteInput();
  }

  private goAway(): void {
    if (this.autoAway) return;
    this.autoAway = true;
    this.clearTimer('idleTimer');
    if (this.manualStatus === null) this.announce({});
    this.update();
  }

  private armIdleTimer(): void {
    this.clearTimer('idleTimer');
    if (!this.started || this.opts.awayTimeout <= 0) return;
    const wait = Math.max(0, this.lastInputAt + this.opts.awayTimeout - this.clock.now());
    this.idleTimer = this.clock.setTimeout(() => {
      this.idleTimer = null;
      this.goAway();
    }, wait);
  }

  private clearTimer(name: 'idleTimer' | 'refreshTimer'): void {
    if (this[name] !== null) {
      this.clock.clearTimeout(this[name]);
      this[name] = null;
    }
  }

  private fail(err: unknown): void {
    this.error = err instanceof Error ? err : new Error(String(err));
    this.update();
  }

  private roomOf(room: string, entry: RoomEntry): RoomPresence {
    const usersInRoom = [...entry.users.values()].sort(byName);
    const counts = countStatuses(usersInRoom);
    return {
      room,
      usersInRoom,
      userCount: Math.max(entry.userCount, usersInRoom.length),
      onlineCount: counts.online,
      awayCount: counts.away,
      cursors: [...entry.cursors.values()],
      joined: entry.joined,
    };
  }

  private buildSnapshot(): PresenceSnapshot {
    const activeUsers = [...this.users.values()].filter((u) => u.status !== 'offline').sort(byName);
    const counts = countStatuses(activeUsers);
    const rooms: Record<string, RoomPresence> = {};
    for (const [room, entry] of this.rooms) {
      // The previous value of a room nothing changed in, so that a view of
      // one room does not re-render for every event of another.
      const next = this.roomOf(room, entry);
      const prev = this.snap?.rooms[room];
      rooms[room] = prev !== undefined && sameRoom(prev, next) ? prev : next;
    }
    return {
      status: this.effectiveStatus,
      currentUser: this.currentUser,
      activeUsers,
      onlineCount: counts.online,
      awayCount: counts.away,
      rooms,
      error: this.error,
    };
  }

  private update(): void {
    this.snap = this.buildSnapshot();
    this.emitter.emit('change', this.snap);
  }
}

/** Creates a PresenceManager; call `start()` to go live. */
export function createPresenceManager(options: PresenceManagerOptions): PresenceManager {
  return new PresenceManager(options);
}

const presenceManagers = new WeakMap<WebSocketClient, { manager: PresenceManager; users: number }>();

/**
 * The page-wide PresenceManager of a client, created on first use with
 * `options`, started while at least one caller holds it: each call returns a
 * `release` that stops it when the last holder lets go.
 */
export function retainPresenceManager(
  client: WebSocketClient,
  options: Omit<PresenceManagerOptions, 'client'> = {},
): { manager: PresenceManager; release: () => void } {
  let slot = presenceManagers.get(client);
  if (slot === undefined) {
    slot = { manager: new PresenceManager({ ...options, client }), users: 0 };
    presenceManagers.set(client, slot);
  }
  const s = slot;
  s.users++;
  s.manager.start();
  let released = false;
  return {
    manager: s.manager,
    release: () => {
      if (released) return;
      released = true;
      if (--s.users === 0) s.manager.stop();
    },
  };
}

/** The page-wide PresenceManager of a client without starting it (created with `options` on first use). */
export function getPresenceManager(client: WebSocketClient, options: Omit<PresenceManagerOptions, 'client'> = {}): PresenceManager {
  let slot = presenceManagers.get(client);
  if (slot === undefined) {
    slot = { manager: new PresenceManager({ ...options, client }), users: 0 };
    presenceManagers.set(client, slot);
  }
  return slot.manager;
}
