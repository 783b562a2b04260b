import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Change, RealtimeSyncManager } from '../src/index.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { ackUpdate, flush, payload, push, setup, stored, type Setup } from './rebase-harness.js';
import { RebasingServer } from './rebasing-server.js';

// A local change the server refuses for good (an error that is not
// retryable: FORBIDDEN, BAD_REQUEST for a document over its size...) is
// not in the server's document. The changes the user queued behind it were
// written on the local document where it applied: the list indexes and
// text positions it moved must be moved back in them before they go out
// (the form a manual change held against another user's goes out in is in
// sync-manual-queued.test.ts).

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

const rows = (): { items: { n: string; qty: number }[] } => ({ items: [{ n: 'a', qty: 1 }, { n: 'b', qty: 2 }] });

const outcomeOf = (p: Promise<Change>): Promise<string> =>
  p.then((c) => String(c.metadata?.['outcome'] ?? c.version), (e: { code: string }) => e.code);

/** Follows customer 42 and pushes an insert at items[0], then an edit of row a's quantity (items[1], behind the new row); their outcomes. */
async function insertThenQty(server: RebasingServer): Promise<{ m: RealtimeSyncManager; insert: Promise<string>; qty: Promise<string> }> {
  const m = await server.follow();
  const push = (input: Record<string, unknown>): Promise<string> => outcomeOf(m.pushChange({ entityType: 'customer', entityId: '42', ...input } as never));
  const insert = push({ operation: 'insert', path: 'items[0]', after: { n: 'x', qty: 0 } });
  const qty = push({ operation: 'update', path: 'items[1].qty', after: 10 });
  await flush();
  return { m, insert, qty };
}

describe('the changes queued behind one the server refuses', () => {
  it('a queued list edit goes out at its element\'s index without the refused insert, and lands on that element', async () => {
    const server = new RebasingServer('operational-transform', rows());
    server.hold = true;
    const { m, insert, qty } = await insertThenQty(server);
    server.fake.error(server.sock, server.held as SentFrame, 'FORBIDDEN');
    expect(await insert).toBe('FORBIDDEN');
    expect(await qty).toBe('2');
    expect(payload(server.frames[1])).toMatchObject({ path: 'items[0].qty', baseVersion: 1 });
    expect(server.doc).toEqual({ items: [{ n: 'a', qty: 10 }, { n: 'b', qty: 2 }] });
    await flush();
    expect(m.getState('customer', '42')).toMatchObject({ version: 2, document: server.doc, localChanges: [] });
  });

  it('a queued text edit goes out at its positions without the refused text edit', async () => {
    const s = await setup({ notes: 'hello world' });
    const refused = outcomeOf(push(s, { operation: 'text', path: 'notes', text: [{ retain: 6 }, { insert: 'there, dear' }, { delete: 5 }] }));
    void push(s, { operation: 'text', path: 'notes', text: [{ retain: 17 }, { insert: '!' }] }); // after "hello there, dear"
    await flush();
    s.server.error(s.sock, s.frames[0]!, 'BAD_REQUEST');
    await flush();
    await flush();
    expect(await refused).toBe('BAD_REQUEST');
    expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'text', text: [{ retain: 11 }, { insert: '!' }], baseVersion: 1 });
    expect(s.manager.getState('customer', '42').document).toEqual({ notes: 'hello world!' });
  });

  it('a queued edit of the element the refused insert made settles as dropped, not sent to another element', async () => {
    const s = await setup(rows());
    const insert = outcomeOf(push(s, { operation: 'insert', path: 'items[0]', after: { n: 'x', qty: 0 } }));
    const edit = push(s, { operation: 'update', path: 'items[0].qty', after: 5 }); // the new row
    await flush();
    s.server.error(s.sock, s.frames[0]!, 'FORBIDDEN');
    await flush();
    await flush();
    expect(await insert).toBe('FORBIDDEN');
    expect(s.frames).toHaveLength(1);
    const c = await edit;
    expect(c.metadata?.['outcome']).toBe('dropped');
    expect(c.notices).toEqual(['update "items[0].qty" dropped: insert "items[0]" was refused (FORBIDDEN)']);
    expect(s.manager.getState('customer', '42').document).toEqual(rows());
  });
});

// A change the SDK does not send (REBASE_FAILED, LOCAL_CONFLICT) is not in
// the server's document either, while the changes queued behind it were
// written on the local document where it applied.
describe('the changes queued behind one the SDK refuses before sending', () => {
  it('REBASE_FAILED: a list edit queued after a whole-document sync goes out at its element\'s index without the refused insert', async () => {
    const s = await setup({ name: 'n', ...rows() });
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
    const insert = outcomeOf(push(s, { operation: 'insert', path: 'items[0]', after: { n: 'x', qty: 0 } }));
    await flush();
    // A version is skipped; the sync answers with the whole document: the insert cannot be rebased.
    s.snapshot = { version: 3, document: { name: 'n', ...rows(), note: 'z' } };
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(3, 'u2', { op: 'update', path: 'note', value: 'z' }, 'z') });
    await flush();
    await flush();
    // Written on the document shown, with the new row at the top: row a.
    void push(s, { operation: 'update', path: 'items[1].qty', after: 10 });
    await flush();
    ackUpdate(s, s.frames[0]!, 4, 'name', 'm');
    await flush();
    await flush();
    expect(await insert).toBe('REBASE_FAILED');
    expect(s.frames.map(payload)[1]).toMatchObject({ path: 'items[0].qty', after: 10, baseVersion: 4 });
  });

  it('LOCAL_CONFLICT: a queued list edit goes out at its element\'s index without the refused insert', async () => {
    const s = await setup({ items: [{ n: 'a', qty: 1 }, { n: 'b', qty: 2 }, { n: 'c', qty: 3 }] }, 'manual');
    void push(s, { operation: 'update', path: 'items[0].n', after: 'A' }); // in flight
    const insert = outcomeOf(push(s, { operation: 'insert', path: 'items[0]', after: { n: 'x', qty: 0 } }));
    void push(s, { operation: 'update', path: 'items[2].qty', after: 20 }); // row b, behind the new row
    await flush();
    // Another user sets row a's quantity: the insert is held against it; then the user's own
    // change to row a is applied after it, so no base shows the server the one without the other.
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'update', path: 'items[0].qty', value: 5 }, 5) });
    await flush();
    ackUpdate(s, s.frames[0]!, 3, 'items[0].n', 'A');
    await flush();
    await flush();
    expect(await insert).toBe('LOCAL_CONFLICT');
    expect(s.frames.map(payload)[1]).toMatchObject({ path: 'items[1].qty', after: 20, baseVersion: 3 });
  });

  it('dropped: a list edit queued behind a move of a row another user deleted goes out at its element\'s index (already right)', async () => {
    const s = await setup({ name: 'n', items: [{ n: 'a', qty: 1 }, { n: 'b', qty: 2 }, { n: 'c', qty: 3 }] });
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
    const move = push(s, { operation: 'move', path: 'items', from: 0, to: 2 }); // a to the end: b, c, a
    void push(s, { operation: 'update', path: 'items[0].qty', after: 20 }); // row b
    await flush();
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'delete', path: 'items[0]' }, null) });
    await flush();
    ackUpdate(s, s.frames[0]!, 3, 'name', 'm');
    await flush();
    await flush();
    expect((await move).metadata?.['outcome']).toBe('dropped');
    expect(s.frames.map(payload)[1]).toMatchObject({ path: 'items[0].qty', after: 20, baseVersion: 3 });
  });
});

// A change whose attempts all end with a retryable error (UNAVAILABLE, or
// RATE_LIMITED once the client's own retries run out) may or may not have
// been applied. The changes queued behind it are sent as if it was not
// (what it moved moved back); if it was, its event comes later and is
// carried into them as another user's change would be.
describe('the changes queued behind one that fails with a retryable error', () => {
  for (const code of ['UNAVAILABLE', 'RATE_LIMITED']) {
    it(`${code}, not applied: a queued list edit goes out at its element's index without the insert`, async () => {
      const server = new RebasingServer('operational-transform', rows());
      server.changeErrorCode = code;
      server.failChange = (f) => payload(f)['operation'] === 'insert';
      const { m, insert, qty } = await insertThenQty(server);
      // Every attempt (and the client's own retries) waits with the fake clock.
      await vi.advanceTimersByTimeAsync(60_000);
      expect(await insert).toBe(code);
      expect(await qty).toBe('2');
      expect(payload(server.frames.at(-1))).toMatchObject({ operation: 'update', path: 'items[0].qty', baseVersion: 1 });
      expect(server.doc).toEqual({ items: [{ n: 'a', qty: 10 }, { n: 'b', qty: 2 }] });
      expect(m.getState('customer', '42')).toMatchObject({ version: 2, document: server.doc, localChanges: [] });
    });
  }

  /** Pushes an insert at items[0] that fails as `fail` says, then an edit of the row it made; the insert's outcome and the edit's notices. */
  async function editOfInserted(server: RebasingServer, fail: (f: SentFrame) => boolean): Promise<{ insert: string; notices: unknown }> {
    server.failChange = (f) => payload(f)['operation'] === 'insert' && fail(f);
    const m = await server.follow();
    const insert = outcomeOf(m.pushChange({ entityType: 'customer', entityId: '42', operation: 'insert', path: 'items[0]', after: { n: 'x', qty: 0 } }));
    const edit = m.pushChange({ entityType: 'customer', entityId: '42', operation: 'update', path: 'items[0].qty', after: 5 }); // the new row
    await flush();
    await vi.advanceTimersByTimeAsync(120_000);
    const c = await edit;
    expect(c.metadata?.['outcome']).toBe('dropped');
    return { insert: await insert, notices: c.notices };
  }

  // Whether the insert may have landed decides the notice: an error that
  // leaves the outcome open (UNAVAILABLE, INTERNAL, TIMEOUT) says so; one
  // that says the frame was dropped unprocessed (RATE_LIMITED) says it was
  // refused.
  for (const [code, what] of [
    ['UNAVAILABLE', 'may have been applied'],
    ['INTERNAL', 'may have been applied'],
    ['RATE_LIMITED', 'was refused'],
  ] as const) {
    it(`a queued edit of the row the insert made is dropped with a notice that the insert ${what} (${code})`, async () => {
      const server = new RebasingServer('operational-transform', rows());
      server.changeErrorCode = code;
      const { insert, notices } = await editOfInserted(server, () => true);
      expect(insert).toBe(code);
      expect(notices).toEqual([`update "items[0].qty" dropped: insert "items[0]" ${what} (${code})`]);
    });
  }

  it('an insert whose first attempt timed out and whose resends are RATE_LIMITED may have been applied', async () => {
    const server = new RebasingServer('operational-transform', rows());
    server.changeErrorCode = 'RATE_LIMITED';
    server.hold = true; // the first attempt gets no reply: TIMEOUT
    let attempts = 0;
    const { insert, notices } = await editOfInserted(server, () => ++attempts > 1);
    expect(insert).toBe('RATE_LIMITED');
    expect(notices).toEqual(['update "items[0].qty" dropped: insert "items[0]" may have been applied (RATE_LIMITED)']);
  });

  it('an insert whose first attempt timed out and whose resend clearQueue drops may have been applied', async () => {
    const server = new RebasingServer('operational-transform', rows());
    server.hold = true; // the first attempt gets no reply: TIMEOUT
    const m = await server.follow();
    const insert = outcomeOf(m.pushChange({ entityType: 'customer', entityId: '42', operation: 'insert', path: 'items[0]', after: { n: 'x', qty: 0 } }));
    const edit = m.pushChange({ entityType: 'customer', entityId: '42', operation: 'update', path: 'items[0].qty', after: 5 }); // the new row
    await vi.advanceTimersByTimeAsync(15_000); // TIMEOUT: sent again half a second later
    server.client.disconnect(); // the resend waits in the queue
    await vi.advanceTimersByTimeAsync(500);
    expect(server.client.clearQueue()).toBe(1);
    expect(await insert).toBe('QUEUE_CLEARED');
    const c = await edit;
    expect(c.metadata?.['outcome']).toBe('dropped');
    expect(c.notices).toEqual(['update "items[0].qty" dropped: insert "items[0]" may have been applied (QUEUE_CLEARED)']);
  });

  // A resend the SDK itself refuses before it goes out (REBASE_FAILED,
  // LOCAL_CONFLICT: codes that never reach the server) leaves open what the
  // timed-out attempt before it did, as a resend clearQueue drops does.
  /**
   * Pushes an insert at items[0] whose first attempt times out, then an edit of the row it made;
   * `before` runs once the insert was sent again, which the server then answers VERSION_CONFLICT.
   * The insert's outcome and the edit's notices.
   */
  async function resendConflicts(s: Setup, before: () => void): Promise<{ insert: string; notices: unknown }> {
    const insert = outcomeOf(push(s, { operation: 'insert', path: 'items[0]', after: { n: 'x', qty: 0 } }));
    const edit = push(s, { operation: 'update', path: 'items[0].qty', after: 5 }); // the new row
    await flush();
    await vi.advanceTimersByTimeAsync(15_500); // TIMEOUT: sent again
    expect(s.frames).toHaveLength(2);
    before();
    await flush();
    s.server.error(s.sock, s.frames[1]!, 'VERSION_CONFLICT');
    await flush();
    await flush();
    const c = await edit;
    expect(c.metadata?.['outcome']).toBe('dropped');
    return { insert: await insert, notices: c.notices };
  }

  it('an insert whose first attempt timed out and whose resend is refused with REBASE_FAILED may have been applied', async () => {
    const s = await setup(rows());
    // The sync after the server's VERSION_CONFLICT answers with the whole document.
    const { insert, notices } = await resendConflicts(s, () => {
      s.snapshot = { version: 3, document: { ...rows(), note: 'z' } };
    });
    expect(insert).toBe('REBASE_FAILED');
    expect(notices).toEqual(['update "items[0].qty" dropped: insert "items[0]" may have been applied (REBASE_FAILED)']);
  });

  it('an insert whose first attempt timed out and whose resend is refused with LOCAL_CONFLICT may have been applied', async () => {
    const s = await setup(rows(), 'manual');
    // Another user sets row a's quantity after the insert's base.
    const { insert, notices } = await resendConflicts(s, () => {
      s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'update', path: 'items[0].qty', value: 7 }, 7) });
    });
    expect(insert).toBe('LOCAL_CONFLICT');
    expect(notices).toEqual(['update "items[0].qty" dropped: insert "items[0]" may have been applied (LOCAL_CONFLICT)']);
  });

  it('UNAVAILABLE, applied after all: its event, after the failure, is carried into the queued edit once', async () => {
    const server = new RebasingServer('operational-transform', rows());
    server.hold = true;
    const { m, insert, qty } = await insertThenQty(server);
    // The server applies the insert, but its reply is lost: every attempt answers UNAVAILABLE.
    const first = server.held as SentFrame;
    const { event } = server.decide(first);
    server.fake.error(server.sock, first, 'UNAVAILABLE', { retryable: true });
    server.failChange = (f) => f.messageId === first.messageId;
    server.hold = true; // the queued edit waits for the test
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await insert).toBe('UNAVAILABLE');
    expect(server.frames).toHaveLength(6);
    server.event(event as Change);
    await flush();
    server.deliver(server.held as SentFrame, server.decide(server.held as SentFrame));
    expect(await qty).toBe('3');
    await flush();
    expect(server.doc).toEqual({ items: [{ n: 'x', qty: 0 }, { n: 'a', qty: 10 }, { n: 'b', qty: 2 }] });
    expect(m.getState('customer', '42')).toMatchObject({ version: 3, document: server.doc, localChanges: [] });
  });
});
