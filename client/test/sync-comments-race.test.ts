// Comments read by comment.list, or returned by the acks of comment.add and
// comment.resolve, race the comment events: a reply never replaces the copy
// of a comment that news (an event, an ack) brought after its request went out.
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
