/// <reference types="node" />
// Comments through the RealtimeSyncManager against the real local server:
// comment.list is paged (at most 100 comments a page), so loadComments
// follows nextCursor to read them all, and keeps at most commentLimit per
// entity, the newest.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, type Comment, type WebSocketClient } from '../src/index.js';
import { devClient, startLocalServer, until, type LocalServer } from './server.js';

let server: LocalServer;
const clients: WebSocketClient[] = [];
const managers: RealtimeSyncManager[] = [];

function client(userId: string): WebSocketClient {
  return devClient(server, userId, clients);
}

function manager(c: WebSocketClient, commentLimit?: number): RealtimeSyncManager {
  const m = new RealtimeSyncManager(
    commentLimit === undefined ? { client: c, loadHistory: false } : { client: c, loadHistory: false, commentLimit },
  );
  managers.push(m);
  return m;
}

/** Newest first, as the server lists them and the manager shows them. */
function newestFirst(ids: Iterable<string>): string[] {
  return [...ids].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

const ENTITY = { type: 'order', id: 'comments-paged' };

/** Adds a comment to ENTITY as `author`; resolves with its id once `m` shows it (its event). */
async function addAndSee(author: WebSocketClient, m: RealtimeSyncManager, text: string): Promise<string> {
  const ack = await author.request<'comment.add', { comment: Comment }>('comment.add', {
    payload: { entityType: ENTITY.type, entityId: ENTITY.id, text },
  });
  const id = ack.comment.id;
  await until(() => m.getState(ENTITY.type, ENTITY.id).comments.some((c) => c.id === id), 10_000, `the event of comment ${text}`);
  return id;
}
/** Comments seeded on ENTITY: more than two pages of 100. */
const WRITERS = 7;
const EACH = 30;
let seeded: string[] = [];
/** The author of each seeded comment. */
const author = new Map<string, string>();

beforeAll(async () => {
  server = await startLocalServer();
  // Several writers, so that the server's per-connection frame rate does
  // not slow the seeding down.
  const writers = Array.from({ length: WRITERS }, (_, i) => client(`writer${i}`));
  const ids = await Promise.all(
    writers.map(async (w, i) => {
      const mine: string[] = [];
      for (let k = 0; k < EACH; k++) {
        const ack = await w.request<'comment.add', { comment: Comment }>('comment.add', {
          payload: { entityType: ENTITY.type, entityId: ENTITY.id, text: `comment ${i}-${k}` },
        });
        mine.push(ack.comment.id);
        author.set(ack.comment.id, ack.comment.userId);
      }
      return mine;
    }),
  );
  seeded = newestFirst(ids.flat());
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  for (const m of managers.splice(0)) m.destroy();
  for (const c of clients.splice(0)) c.destroy();
});

describe('loadComments against the local server', () => {
  it('reads every page of comment.list, not only the first 100', async () => {
    expect(seeded).toHaveLength(WRITERS * EACH);
    const reader = client('reader');
    const request = vi.spyOn(reader, 'request');
    const m = manager(reader);
    await m.startSync(ENTITY.type, ENTITY.id);
    const comments = await m.loadComments(ENTITY.type, ENTITY.id);
    expect(comments.map((c) => c.id)).toEqual(seeded);
    expect(m.getState(ENTITY.type, ENTITY.id).comments.map((c) => c.id)).toEqual(seeded);
    // 210 comments are three pages of the server's (100, 100, 10).
    expect(request.mock.calls.filter(([type]) => type === 'comment.list')).toHaveLength(3);
  });

  it('keeps at most commentLimit comments per entity, dropping the oldest', async () => {
    const limit = 150;
    const reader = client('reader2');
    const m = manager(reader, limit);
    await m.startSync(ENTITY.type, ENTITY.id);
    const loaded = await m.loadComments(ENTITY.type, ENTITY.id);
    // Past the first page, and no further than the limit: the newest 150.
    expect(loaded.map((c) => c.id)).toEqual(seeded.slice(0, limit));

    // A comment added by this user and one by another user (its event) go
    // in at the top; the oldest kept ones make room.
    const mine = await m.addComment(ENTITY.type, ENTITY.id, 'one more');
    const other = client('other');
    const theirs = await addAndSee(other, m, 'and another');
    const ids = m.getState(ENTITY.type, ENTITY.id).comments.map((c) => c.id);
    expect(ids).toEqual([...newestFirst([mine.id, theirs]), ...seeded.slice(0, limit - 2)]);

    // An event about a comment older than every one kept (its author
    // resolving the oldest seeded one) does not bring it back.
    const oldest = seeded[seeded.length - 1] ?? '';
    const resolver = client(author.get(oldest) ?? '');
    await resolver.request('comment.resolve', { payload: { entityType: ENTITY.type, entityId: ENTITY.id, commentId: oldest } });
    const marker = await addAndSee(other, m, 'after the resolve');
    const after = m.getState(ENTITY.type, ENTITY.id).comments.map((c) => c.id);
    expect(after).toHaveLength(limit);
    expect(after).not.toContain(oldest);
    expect(after[0]).toBe(marker);
  });

  it('refuses a commentLimit that is not a whole number of at least 1', () => {
    const c = client('opts');
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => manager(c, bad)).toThrow(/commentLimit/);
    }
  });
});
