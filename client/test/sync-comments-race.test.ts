// Comments read by comment.list, or returned by the acks of comment.add and
// comment.resolve, race the comment events. With versions, the highest
// version of each comment wins, whatever the order of arrival; without (a
// server before comment versions), a reply never replaces the copy of a
// comment that news (an event, an ack) brought after its request went out.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Comment } from '../src/index.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { flush, setup, type Setup } from './sync-harness.js';

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

function comment(id: string, resolved: boolean, text = `comment ${id}`): Comment {
  return {
    id,
    entityType: 'order',
    entityId: '1',
    userId: 'u2',
    text,
    createdAt: '2026-11-25T10:05:00.000Z',
    resolved,
    ...(resolved ? { resolvedBy: 'u3', resolvedAt: '2026-11-25T10:06:00.000Z' } : {}),
  };
}

function event(s: Setup, action: 'added' | 'resolved' | 'reopened', c: Comment): void {
  s.sock.receive({ type: 'comment', channel: 'order:1', userId: 'u3', payload: { action, comment: c } });
}

/** The comments the manager shows: id → resolved. */
function shown(s: Setup): Record<string, boolean> {
  return Object.fromEntries(s.manager.getState('order', '1').comments.map((c) => [c.id, c.resolved]));
}

/** A fake server whose replies to `types` wait in `held` until the test answers them. */
async function holding(types: string[]): Promise<{ s: Setup; held: SentFrame[] }> {
  const held: SentFrame[] = [];
  const s = await setup((_sock, f) => {
    if (!types.includes(f.type)) return;
    held.push(f);
    return true;
  });
  await s.manager.startSync('order', '1');
  return { s, held };
}

describe('RealtimeSyncManager comments', () => {
  it('keeps a comment event that arrived while the comment pages were read over the older copy of a page', async () => {
    const { s, held } = await holding(['comment.list']);
    // Known before the load: b (its page, asked later, is newer).
    event(s, 'added', comment('b', false));
    const loaded = s.manager.loadComments('order', '1');
    await flush();
    // Page 1 holds a, unresolved; a is resolved after it was read.
    s.server.ack(s.sock, held[0]!, { comments: [comment('c', false), comment('a', false)], nextCursor: 'p2' });
    await flush();
    event(s, 'resolved', comment('a', true));
    await flush();
    expect(held).toHaveLength(2);
    // While page 2 is asked, c is resolved and reopened again.
    event(s, 'resolved', comment('c', true));
    event(s, 'reopened', comment('c', false));
    s.server.ack(s.sock, held[1]!, { comments: [comment('b', true)], nextCursor: '' });
    await loaded;
    expect(shown(s)).toEqual({ a: true, b: true, c: false });
  });

  it('keeps a comment event that arrived before the comment.list reply', async () => {
    const { s, held } = await holding(['comment.list']);
    const loaded = s.manager.loadComments('order', '1');
    await flush();
    event(s, 'resolved', comment('a', true));
    s.server.ack(s.sock, held[0]!, { comments: [comment('a', false)], nextCursor: '' });
    await loaded;
    expect(shown(s)).toEqual({ a: true });
  });

  it('keeps a reopen that arrived before the ack of its own resolve', async () => {
    const { s, held } = await holding(['comment.resolve']);
    event(s, 'added', comment('a', false));
    const resolving = s.manager.resolveComment('order', '1', 'a');
    await flush();
    // The resolve is applied and announced, then another user reopens the
    // comment: both events come before the resolve's ack.
    event(s, 'resolved', comment('a', true));
    event(s, 'reopened', comment('a', false));
    s.server.ack(s.sock, held[0]!, { comment: comment('a', true) });
    expect((await resolving).resolved).toBe(true);
    expect(shown(s)).toEqual({ a: false });
  });

  it('keeps a resolve that arrived before the ack of the comment.add', async () => {
    const { s, held } = await holding(['comment.add']);
    const adding = s.manager.addComment('order', '1', 'Customer asked for Friday');
    await flush();
    event(s, 'added', comment('a', false));
    event(s, 'resolved', comment('a', true));
    s.server.ack(s.sock, held[0]!, { comment: comment('a', false) });
    await adding;
    expect(shown(s)).toEqual({ a: true });
  });

  it('takes the reply when no news of the comment came after its request', async () => {
    const { s, held } = await holding(['comment.resolve', 'comment.list']);
    event(s, 'added', comment('a', false));
    event(s, 'added', comment('b', false));
    const resolving = s.manager.resolveComment('order', '1', 'a');
    await flush();
    event(s, 'resolved', comment('b', true)); // news of another comment
    s.server.ack(s.sock, held[0]!, { comment: comment('a', true) });
    await resolving;
    expect(shown(s)).toEqual({ a: true, b: true });
    // A page asked after all that news is the newest copy.
    const loaded = s.manager.loadComments('order', '1');
    await flush();
    s.server.ack(s.sock, held[1]!, { comments: [comment('b', false), comment('a', false)], nextCursor: '' });
    await loaded;
    expect(shown(s)).toEqual({ a: false, b: false });
  });

  it('keeps a resolve ack over a page asked before the resolve went out', async () => {
    const { s, held } = await holding(['comment.resolve', 'comment.list']);
    event(s, 'added', comment('a', false));
    const loaded = s.manager.loadComments('order', '1');
    await flush();
    const resolving = s.manager.resolveComment('order', '1', 'a');
    await flush();
    s.server.ack(s.sock, held[1]!, { comment: comment('a', true) });
    await resolving;
    s.server.ack(s.sock, held[0]!, { comments: [comment('a', false)], nextCursor: '' });
    await loaded;
    expect(shown(s)).toEqual({ a: true });
  });
});

/** A comment at version `version`, as a server with comment versions sends it. */
function versioned(id: string, resolved: boolean, version: number): Comment {
  return { ...comment(id, resolved), version };
}

/** The comments the manager shows: id → [resolved, version]. */
function shownVersions(s: Setup): Record<string, [boolean, number | undefined]> {
  return Object.fromEntries(s.manager.getState('order', '1').comments.map((c) => [c.id, [c.resolved, c.version]]));
}

describe('RealtimeSyncManager comment versions', () => {
  it('keeps the reopen when its event comes before the resolve it follows', async () => {
    const { s } = await holding([]);
    event(s, 'added', versioned('a', false, 1));
    event(s, 'reopened', versioned('a', false, 3));
    event(s, 'resolved', versioned('a', true, 2));
    await flush();
    expect(shownVersions(s)).toEqual({ a: [false, 3] });
  });

  it('keeps the resolve when its event comes before the reopen it follows', async () => {
    const { s } = await holding([]);
    event(s, 'resolved', versioned('a', true, 4));
    event(s, 'reopened', versioned('a', false, 3));
    await flush();
    expect(shownVersions(s)).toEqual({ a: [true, 4] });
  });

  it('ignores a comment.list page older than the events, whenever it was asked', async () => {
    const { s, held } = await holding(['comment.list']);
    event(s, 'added', versioned('a', false, 1));
    event(s, 'resolved', versioned('a', true, 2));
    // Asked after both events: without versions, the reply would count as newer.
    const loaded = s.manager.loadComments('order', '1');
    await flush();
    s.server.ack(s.sock, held[0]!, { comments: [versioned('b', false, 1), versioned('a', false, 1)], nextCursor: '' });
    await loaded;
    expect(shownVersions(s)).toEqual({ a: [true, 2], b: [false, 1] });
  });

  it('takes a comment.list page newer than the events that came while it was asked', async () => {
    const { s, held } = await holding(['comment.list']);
    const loaded = s.manager.loadComments('order', '1');
    await flush();
    // The page was read after the reopen (version 3), whose event is still on its way.
    event(s, 'resolved', versioned('a', true, 2));
    s.server.ack(s.sock, held[0]!, { comments: [versioned('a', false, 3)], nextCursor: '' });
    await loaded;
    expect(shownVersions(s)).toEqual({ a: [false, 3] });
    event(s, 'reopened', versioned('a', false, 3)); // the same state again
    await flush();
    expect(shownVersions(s)).toEqual({ a: [false, 3] });
  });

  // An event announced while a resolve was out, and the resolve's ack: the
  // higher version is shown, whichever came first.
  it.each([
    // Another user's reopen (version 3) came after this resolve (version 2).
    { name: 'ignores the ack of a resolve older than the event', ev: versioned('a', false, 3), acked: 2, want: [false, 3] },
    // Another user's resolve (version 2) came before this one (version 3),
    // whose own event comes later.
    { name: 'takes the ack of a resolve newer than the event', ev: versioned('a', true, 2), acked: 3, want: [true, 3] },
  ])('$name that came while it was out', async ({ ev, acked, want }) => {
    const { s, held } = await holding(['comment.resolve']);
    event(s, 'added', versioned('a', false, 1));
    const resolving = s.manager.resolveComment('order', '1', 'a');
    await flush();
    event(s, ev.resolved ? 'resolved' : 'reopened', ev);
    const ack = { ...versioned('a', true, acked), resolvedBy: 'u1' };
    s.server.ack(s.sock, held[0]!, { comment: ack });
    expect(await resolving).toEqual(ack);
    expect(shownVersions(s)).toEqual({ a: want });
  });

  it('ignores a version that is not a whole number >= 1', async () => {
    const { s } = await holding([]);
    event(s, 'resolved', versioned('a', true, 2));
    event(s, 'reopened', { ...comment('a', false), version: 'x' } as unknown as Comment);
    await flush();
    // Without a usable version, an event is taken as before.
    expect(shown(s)).toEqual({ a: false });
    event(s, 'resolved', versioned('a', true, 1.5));
    await flush();
    expect(shown(s)).toEqual({ a: true });
    event(s, 'reopened', versioned('a', false, 2)); // not above the highest seen
    await flush();
    expect(shown(s)).toEqual({ a: true });
  });
});
