import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Change, ChangeOp, Conflict } from '../src/index.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { flush, payload, push, setup, stored, type Setup } from './rebase-harness.js';

// A manual entity: the server holds a change back as a conflict and leaves
// it out of its document (a `local` resolution applies it later). The
// user's changes queued behind it were written on the local document where
// it applied: the list indexes and text positions it moved must be moved
// back in them before they go out (the real server's run of this is
// test-server/sync-manual.test.ts).

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Answers change `f` as held back against `remote` (a change the client has not seen yet). */
const conflictAck = (s: Setup, f: SentFrame, remote: Change): void => {
  const p = payload(f);
  const op: ChangeOp = { op: String(p['operation']), path: String(p['path']) } as ChangeOp;
  const local = { ...stored(0, 'u1', op, p['after'] ?? null, f.messageId), id: `pending-${f.messageId}`, resolved: false };
  const conflict: Conflict = {
    id: `cfl-${f.messageId}`, entityType: 'customer', entityId: '42', path: String(p['path']),
    localChange: local, remoteChange: remote, resolutionStrategy: 'manual', resolved: false,
  };
  s.server.ack(s.sock, f, { entityType: 'customer', entityId: '42', outcome: 'conflict', applied: false, version: remote.version, conflict });
};

const settled = (p: Promise<Change>): Promise<string> =>
  p.then((c) => String(c.metadata?.['outcome'] ?? (c.resolved ? c.version : 'conflict')), (e: { code: string }) => e.code);

const rows = [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }];

describe('manual entity: the changes queued behind one held back as a conflict', () => {
  it('a queued list edit goes out at its element\'s index without the held-back insert, and shows there', async () => {
    const s = await setup({ items: rows }, 'manual');
    const insert = settled(push(s, { operation: 'insert', path: 'items[0]', after: { sku: 'x', qty: 0 } }));
    void push(s, { operation: 'update', path: 'items[1].qty', after: 10 }); // row a, behind the new row
    await flush();
    conflictAck(s, s.frames[0]!, stored(2, 'u2', { op: 'update', path: 'items[0].sku', value: 'A' }, 'A'));
    await flush();
    expect(await insert).toBe('conflict');
    expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'update', path: 'items[0].qty', after: 10, baseVersion: 1 });
    expect(s.manager.getState('customer', '42').document).toEqual({ items: [{ sku: 'a', qty: 10 }, { sku: 'b', qty: 2 }] });
  });

  it('a queued list edit after a held-back delete goes out at the index its element has with the deleted one still there', async () => {
    const s = await setup({ items: [...rows, { sku: 'c', qty: 3 }] }, 'manual');
    void push(s, { operation: 'delete', path: 'items[0]' });
    void push(s, { operation: 'update', path: 'items[1].qty', after: 30 }); // row c
    await flush();
    conflictAck(s, s.frames[0]!, stored(2, 'u2', { op: 'update', path: 'items[0].qty', value: 5 }, 5));
    await flush();
    expect(s.frames.map(payload)[1]).toMatchObject({ path: 'items[2].qty', after: 30, baseVersion: 1 });
  });

  it('a queued list edit after a held-back move goes out at the index its element has where it was', async () => {
    const s = await setup({ items: [...rows, { sku: 'c', qty: 3 }] }, 'manual');
    void push(s, { operation: 'move', path: 'items', from: 0, to: 2 }); // a to the end: b, c, a
    void push(s, { operation: 'update', path: 'items[0].qty', after: 20 }); // row b
    await flush();
    conflictAck(s, s.frames[0]!, stored(2, 'u2', { op: 'update', path: 'items', value: [...rows, { sku: 'c', qty: 3 }] }, null));
    await flush();
    expect(s.frames.map(payload)[1]).toMatchObject({ path: 'items[1].qty', after: 20, baseVersion: 1 });
  });

  it('a queued text edit goes out at its positions without the held-back text edit', async () => {
    const s = await setup({ notes: 'hello world' }, 'manual');
    void push(s, { operation: 'text', path: 'notes', text: [{ retain: 6 }, { insert: 'there, dear' }, { delete: 5 }] });
    void push(s, { operation: 'text', path: 'notes', text: [{ retain: 17 }, { insert: '!' }] }); // after "hello there, dear"
    await flush();
    conflictAck(s, s.frames[0]!, stored(2, 'u2', { op: 'text', path: 'notes', text: [{ insert: '> ' }] }, '> hello world'));
    await flush();
    expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'text', text: [{ retain: 11 }, { insert: '!' }], baseVersion: 1 });
    expect(s.manager.getState('customer', '42').document).toEqual({ notes: 'hello world!' });
  });

  it('a queued edit of the element the held-back insert made settles as dropped, not sent to another element', async () => {
    const s = await setup({ items: rows }, 'manual');
    void push(s, { operation: 'insert', path: 'items[0]', after: { sku: 'x', qty: 0 } });
    const edit = push(s, { operation: 'update', path: 'items[0].qty', after: 5 }); // the new row
    await flush();
    conflictAck(s, s.frames[0]!, stored(2, 'u2', { op: 'update', path: 'items[0].sku', value: 'A' }, 'A'));
    await flush();
    expect(s.frames).toHaveLength(1);
    const c = await edit;
    expect(c.metadata?.['outcome']).toBe('dropped');
    expect(c.notices).toEqual(['update "items[0].qty" dropped: insert "items[0]" was held back as a conflict']);
    expect(s.manager.getState('customer', '42').document).toEqual({ items: rows });
  });

  // A change the server refuses (an error that is not retryable) is not in its document either.
  const answers: { what: string; answer: (s: Setup, f: SentFrame) => void; outcome: string }[] = [
    { what: 'held back as a conflict', answer: (s, f) => conflictAck(s, f, stored(2, 'u2', { op: 'update', path: 'items[0].qty', value: 5 }, 5)), outcome: 'conflict' },
    { what: 'refused by the server', answer: (s, f) => s.server.error(s.sock, f, 'FORBIDDEN'), outcome: 'FORBIDDEN' },
  ];
  for (const { what, answer, outcome } of answers) {
    it(`a queued change held against another user's change goes out in the form it had there without the insert ${what}`, async () => {
      const s = await setup({ name: 'n', items: rows }, 'manual');
      void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
      const insert = settled(push(s, { operation: 'insert', path: 'items[0]', after: { sku: 'x', qty: 0 } }));
      const qty = settled(push(s, { operation: 'update', path: 'items[1].qty', after: 10 })); // row a
      await flush();
      // Another user sets row a's quantity: both list changes are held against it (base 1).
      s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'update', path: 'items[0].qty', value: 5 }, 5) });
      await flush();
      s.server.ack(s.sock, s.frames[0]!, { outcome: 'applied', applied: true, version: 3,
        change: stored(3, 'u1', { op: 'update', path: 'name', value: 'm' }, 'm', s.frames[0]!.messageId) });
      await flush();
      expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'insert', path: 'items[0]', baseVersion: 1 });
      answer(s, s.frames[1]!);
      await flush();
      await flush();
      // From base 1 the server follows it past v2 and holds it against v2: the same element.
      expect(s.frames.map(payload)[2]).toMatchObject({ operation: 'update', path: 'items[0].qty', after: 10, baseVersion: 1 });
      expect(await insert).toBe(outcome);
      void qty;
    });
  }

  // A move out of the list's bounds shows nothing (the server refuses
  // it): the change held behind it was written on a document without it,
  // and its form has nothing of the move to take back.
  for (const { what, answer } of answers) {
    it(`a held change queued behind a move that showed nothing keeps its index when the move is ${what}`, async () => {
      const three = [...rows, { sku: 'c', qty: 3 }];
      const s = await setup({ name: 'n', items: three }, 'manual');
      void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
      const move = settled(push(s, { operation: 'move', path: 'items', from: 5, to: 0 })); // out of bounds: shows nothing
      void push(s, { operation: 'update', path: 'items[1].qty', after: 20 }); // row b
      await flush();
      expect(s.manager.getState('customer', '42').document).toEqual({ name: 'm', items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 20 }, { sku: 'c', qty: 3 }] });
      // Another user sets row b's quantity: the move and the row edit are held against it (base 1).
      s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'update', path: 'items[1].qty', value: 5 }, 5) });
      await flush();
      s.server.ack(s.sock, s.frames[0]!, { outcome: 'applied', applied: true, version: 3,
        change: stored(3, 'u1', { op: 'update', path: 'name', value: 'm' }, 'm', s.frames[0]!.messageId) });
      await flush();
      expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'move', from: 5, to: 0, baseVersion: 1 });
      answer(s, s.frames[1]!);
      await flush();
      await flush();
      // Row b, at the index it had at base 1 (the server holds it as a
      // conflict with the other user's change to it): not row a, where
      // taking back the move would put it.
      expect(s.frames.map(payload)[2]).toMatchObject({ operation: 'update', path: 'items[1].qty', after: 20, baseVersion: 1 });
      void move;
    });
  }

  it('a held change queued behind a held-back insert and a move that showed nothing loses the insert alone', async () => {
    const s = await setup({ name: 'n', items: rows }, 'manual');
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
    const insert = settled(push(s, { operation: 'insert', path: 'items[0]', after: { sku: 'x', qty: 0 } }));
    const move = settled(push(s, { operation: 'move', path: 'items', from: 7, to: 0 })); // out of bounds: shows nothing
    void push(s, { operation: 'update', path: 'items[1].qty', after: 10 }); // row a
    await flush();
    // Another user sets row a's quantity: the three list changes are held against it (base 1).
    const remote = stored(2, 'u2', { op: 'update', path: 'items[0].qty', value: 5 }, 5);
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: remote });
    await flush();
    s.server.ack(s.sock, s.frames[0]!, { outcome: 'applied', applied: true, version: 3,
      change: stored(3, 'u1', { op: 'update', path: 'name', value: 'm' }, 'm', s.frames[0]!.messageId) });
    await flush();
    expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'insert', path: 'items[0]', baseVersion: 1 });
    conflictAck(s, s.frames[1]!, remote);
    await flush();
    expect(s.frames.map(payload)[2]).toMatchObject({ operation: 'move', baseVersion: 1 });
    s.server.error(s.sock, s.frames[2]!, 'BAD_REQUEST');
    await flush();
    await flush();
    // Row a, without the insert: the move, which moved nothing, does not
    // shift what is taken back of the insert onto row a.
    expect(s.frames.map(payload)[3]).toMatchObject({ operation: 'update', path: 'items[0].qty', after: 10, baseVersion: 1 });
    expect(await insert).toBe('conflict');
    expect(await move).toBe('BAD_REQUEST');
  });
});
