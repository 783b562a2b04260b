/// <reference types="node" />
// Presence text against the real local server: the server bounds the
// location's page and section (128 bytes each), the activity (256), the
// avatar (1024) and a cursor anchor's elementId (1..256) in UTF-8 bytes and
// answers BAD_REQUEST past them. The PresenceManager checks the same
// bounds before sending: a value right at a bound (of multi-byte code
// points) reaches the server and is kept; one byte more is refused at
// once with BAD_REQUEST, nothing is sent, and the value set before stays,
// so later presence frames still go through.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  MAX_ACTIVITY_BYTES,
  MAX_ANCHOR_BYTES,
  MAX_AVATAR_BYTES,
  MAX_LOCATION_BYTES,
  PresenceManager,
  RealtimeError,
  type WebSocketClient,
} from '../src/index.js';
import { devClient, startLocalServer, until, type LocalServer } from './server.js';

let server: LocalServer;
/** The clients and managers a test made, destroyed after it, the latest first. */
const made: { destroy(): void }[] = [];

function client(userId: string): WebSocketClient {
  const c = devClient(server, userId, []);
  made.push(c);
  return c;
}

/** A started manager whose own presence the server has acknowledged. */
async function presence(c: WebSocketClient): Promise<PresenceManager> {
  const m = new PresenceManager({ client: c, refreshInterval: 0, trackActivity: false });
  made.push(m);
  m.start();
  await until(() => m.getSnapshot().currentUser !== null, 10_000, 'the first presence ack');
  return m;
}

/** Expects `fn` to throw the BAD_REQUEST of a presence text of `bytes` over (or under) its bound. */
function expectRefused(fn: () => unknown, field: string, bytes: number, limit: number): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(RealtimeError);
  const re = err as RealtimeError;
  expect(re.code).toBe('BAD_REQUEST');
  expect(re.retryable).toBe(false);
  expect(re.details).toEqual({ field, bytes, limit });
}

/** The presence and room.join requests `c` made while `spy` watched. */
function presenceFrames(spy: { mock: { calls: unknown[][] } }): unknown[][] {
  return spy.mock.calls.filter(([type]) => type === 'presence' || type === 'room.join');
}

// The server's bounds (docs/LIMITS.md), in UTF-8 bytes; each string below is
// made of code points of 4 (emoji), 3 or 2 bytes.
const EMOJI = '\u{1F600}'; // 4 bytes, 2 UTF-16 code units
const activityAt = EMOJI.repeat(64); // 256 bytes, 128 code units
const activityPast = `a${activityAt}`; // 257 bytes
const pageAt = EMOJI.repeat(32); // 128 bytes
const pagePast = `${pageAt}a`; // 129
const sectionAt = '\u4E2D'.repeat(42) + '\u00E9'; // 42 * 3 + 2 = 128 bytes
const sectionPast = `${sectionAt}a`; // 129
const avatarAt = EMOJI.repeat(256); // 1024 bytes
const avatarPast = `${avatarAt}a`; // 1025

beforeAll(async () => {
  server = await startLocalServer();
});
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  for (const x of made.splice(0).reverse()) x.destroy();
});

describe('presence text bounds against the local server', () => {
  it('exports the bounds the server applies', () => {
    expect([MAX_LOCATION_BYTES, MAX_ACTIVITY_BYTES, MAX_AVATAR_BYTES, MAX_ANCHOR_BYTES]).toEqual([128, 256, 1024, 256]);
  });

  it('sends an activity of exactly 256 bytes and refuses 257 before sending, keeping the previous one', async () => {
    const c = client('ann');
    const m = await presence(c);
    m.setActivity(activityAt);
    await until(() => m.getSnapshot().currentUser?.activity === activityAt, 10_000, 'the 256-byte activity');

    const spy = vi.spyOn(c, 'request');
    expectRefused(() => m.setActivity(activityPast), 'activity', 257, 256);
    expect(presenceFrames(spy)).toHaveLength(0);

    // The refused value was not kept: the next presence frame carries the
    // 256-byte activity and the server accepts it.
    m.setStatus('away');
    await until(() => m.getSnapshot().currentUser?.status === 'away', 10_000, 'away');
    expect(m.getSnapshot().currentUser?.activity).toBe(activityAt);
    expect(m.getSnapshot().error).toBeNull();
  });

  it('refuses a lone surrogate, which the server would store as U+FFFD and refuses, without sending it', async () => {
    const c = client('bob');
    const m = await presence(c);
    m.setActivity(`${'x'.repeat(256)}`);
    await until(() => m.getSnapshot().currentUser?.activity === 'x'.repeat(256), 10_000, 'the activity at its bound');
    const spy = vi.spyOn(c, 'request');
    for (const text of ['\uD800x', 'x\uDC00', '\uFFFD']) {
      let err: unknown;
      try {
        m.setActivity(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RealtimeError);
      expect((err as RealtimeError).code).toBe('BAD_REQUEST');
      expect((err as RealtimeError).details).toMatchObject({ field: 'activity' });
    }
    expect(presenceFrames(spy)).toHaveLength(0);
    expect(m.getSnapshot().currentUser?.activity).toBe('x'.repeat(256));
  });

  it('sends a page and a section of exactly 128 bytes and refuses 129', async () => {
    const c = client('carol');
    const m = await presence(c);
    m.setLocation(pageAt, sectionAt);
    await until(() => m.getSnapshot().currentUser?.currentLocation.section === sectionAt, 10_000, 'the 128-byte location');
    expect(m.getSnapshot().currentUser?.currentLocation.page).toBe(pageAt);

    const spy = vi.spyOn(c, 'request');
    expectRefused(() => m.setLocation(pagePast), 'page', 129, 128);
    expectRefused(() => m.setLocation('orders', sectionPast), 'section', 129, 128);
    expect(presenceFrames(spy)).toHaveLength(0);
    m.setActivity('still here');
    await until(() => m.getSnapshot().currentUser?.activity === 'still here', 10_000, 'the next presence frame');
    expect(m.getSnapshot().currentUser?.currentLocation).toEqual({ page: pageAt, section: sectionAt });
  });

  it('rejects a join whose location or avatar is too long without sending it, and joins with them at the bound', async () => {
    const c = client('dave');
    const m = await presence(c);
    const spy = vi.spyOn(c, 'request');
    const tooLong = m.joinRoom('lobby', { location: { page: pagePast } });
    await expect(tooLong.ready).rejects.toMatchObject({ code: 'BAD_REQUEST', details: { field: 'page', bytes: 129, limit: 128 } });
    const badAvatar = m.joinRoom('lobby', { avatar: avatarPast });
    await expect(badAvatar.ready).rejects.toMatchObject({ code: 'BAD_REQUEST', details: { field: 'avatar', bytes: 1025, limit: 1024 } });
    expect(presenceFrames(spy)).toHaveLength(0);
    expect(m.getSnapshot().rooms['lobby']).toBeUndefined();
    expect(m.getSnapshot().error).toMatchObject({ code: 'BAD_REQUEST' });
    tooLong.release();
    badAvatar.release();

    const room = await m.joinRoom('lobby', { location: { page: pageAt, section: sectionAt }, avatar: avatarAt }).ready;
    const me = room.usersInRoom.find((u) => u.userId === 'dave');
    expect(me?.currentLocation).toEqual({ page: pageAt, section: sectionAt });
    expect(me?.avatar).toBe(avatarAt);
    expect(m.getSnapshot().error).toBeNull();
  });

  it('refuses too long initial values when the manager is made', () => {
    const c = client('erin');
    for (const [options, field, bytes, limit] of [
      [{ initialActivity: activityPast }, 'activity', 257, 256],
      [{ initialPage: pagePast }, 'page', 129, 128],
      [{ initialSection: sectionPast }, 'section', 129, 128],
      [{ avatar: avatarPast }, 'avatar', 1025, 1024],
    ] as const) {
      expectRefused(() => new PresenceManager({ client: c, trackActivity: false, ...options }), field, bytes, limit);
    }
  });

  it('sends a cursor anchor of exactly 256 bytes and refuses an empty one or 257 bytes', async () => {
    const ann = await presence(client('fay'));
    const bob = await presence(client('gus'));
    await ann.joinRoom('board').ready;
    await bob.joinRoom('board').ready;
    const at = EMOJI.repeat(64);
    ann.updateCursor('board', { anchor: { elementId: at } });
    await until(
      () => bob.getSnapshot().rooms['board']?.cursors.some((cur) => cur.anchor?.elementId === at),
      10_000,
      'the 256-byte anchor',
    );
    expectRefused(() => ann.updateCursor('board', { anchor: { elementId: `${at}a` } }), 'elementId', 257, 256);
    expectRefused(() => ann.updateCursor('board', { anchor: { elementId: '' } }), 'elementId', 0, 256);
  });
});
