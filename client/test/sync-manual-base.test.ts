import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Change } from '../src/index.js';
import { FakeWebSocket } from './fake-websocket.js';
import { ackUpdate, flush, payload, push, setup, setupHeldSync, stored, type HeldSyncSetup, type Setup } from './rebase-harness.js';

// A manual entity: the server holds a change back as a conflict when a
// change since its baseVersion changed its path (editing.manual), the
// sender's own changes included. A local change that waited while another
// user's change to its path arrived must go out with a base before that
// change (and after the user's own earlier changes), or not at all: sent
// against the head, it would overwrite the other change with no conflict.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Answers the sync under way with these changes, the last at the head. */
const answerSync = async (s: HeldSyncSetup, changes: Change[]): Promise<void> => {
  const v = changes[changes.length - 1]!.version;
  s.server.ack(s.sock, s.syncs[1]!, { strategy: 'manual', version: v, snapshot: false, document: null,
    changes, hasMore: false, nextSinceVersion: v, conflicts: [], lock: null });
  await flush();
  await flush();
};

/** Starts a sync (a skipped version: the head is v3) that the test answers. */
const gap = async (s: HeldSyncSetup): Promise<void> => {
  s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(3, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x') });
  await flush();
  expect(s.syncs).toHaveLength(2);
};

const outcomeOf = (p: Promise<Change>): Promise<string> =>
  p.then((c) => String(c.metadata?.['outcome'] ?? c.version), (e: { code: string }) => e.code);

describe('manual entity: the base a waiting change is sent with', () => {
  it('a change pushed while a sync is under way goes out against the version before another user\'s change to its path', async () => {
    const s = await setupHeldSync({ price: 100, name: 'n' }, 'manual');
    await gap(s);
    void push(s, { operation: 'update', path: 'price', after: 90 }); // seen: price 100 at v1
    await flush();
    await answerSync(s, [
      stored(2, 'u2', { op: 'update', path: 'price', value: 120 }, 120),
      stored(3, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x'),
    ]);
    // Against v3, the server would see nothing since its base and apply 90 over 120.
    expect(s.frames.map(payload)).toMatchObject([{ operation: 'update', path: 'price', after: 90, baseVersion: 1 }]);
  });

  it('a change queued behind the user\'s own in-flight change goes out against the version before another user\'s change to its path', async () => {
    const s = await setup({ price: 100, name: 'n' }, 'manual');
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // A, in flight
    void push(s, { operation: 'update', path: 'price', after: 90 }); // B, queued
    await flush();
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'update', path: 'price', value: 120 }, 120) });
    await flush();
    ackUpdate(s, s.frames[0]!, 3, 'name', 'm');
    await flush();
    await flush();
    // The server follows it past v2 (held: same path) and v3 (the user's own, another path).
    expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'update', path: 'price', after: 90, baseVersion: 1 });
  });

  it('a change queued behind the user\'s own change to the same path goes out against the head, not as a conflict with it', async () => {
    const s = await setup({ price: 100, name: 'n' }, 'manual');
    void push(s, { operation: 'update', path: 'price', after: 90 }); // in flight
    void push(s, { operation: 'update', path: 'price', after: 95 });
    await flush();
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x') });
    await flush();
    ackUpdate(s, s.frames[0]!, 3, 'price', 90);
    await flush();
    await flush();
    expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'update', path: 'price', after: 95, baseVersion: 3 });
  });

  it('a list edit that no one else touched goes out against the head, its index moved past another user\'s insert', async () => {
    const s = await setup({ name: 'n', items: [{ qty: 1 }, { qty: 2 }] }, 'manual');
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
    void push(s, { operation: 'update', path: 'items[1].qty', after: 20 });
    await flush();
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'insert', path: 'items[0]', value: { qty: 0 } }, { qty: 0 }) });
    await flush();
    ackUpdate(s, s.frames[0]!, 3, 'name', 'm');
    await flush();
    await flush();
    expect(s.frames.map(payload)[1]).toMatchObject({ path: 'items[2].qty', after: 20, baseVersion: 3 });
  });

  it('a list edit whose element another user changed goes out against the version before that change, at the index it had then', async () => {
    const s = await setupHeldSync({ name: 'n', items: [{ qty: 1 }, { qty: 2 }] }, 'manual');
    await gap(s);
    void push(s, { operation: 'update', path: 'items[1].qty', after: 20 });
    await flush();
    await answerSync(s, [
      stored(2, 'u2', { op: 'insert', path: 'items[0]', value: { qty: 0 } }, { qty: 0 }), // followed
      stored(3, 'u2', { op: 'update', path: 'items[2].qty', value: 7 }, 7), // the same element: held
    ]);
    expect(s.frames.map(payload)).toMatchObject([{ path: 'items[2].qty', after: 20, baseVersion: 2 }]);
  });

  it('a list edit whose element another user deleted is sent for the server to hold as a conflict, not settled as dropped', async () => {
    const s = await setupHeldSync({ name: 'n', items: [{ qty: 1 }, { qty: 2 }, { qty: 3 }] }, 'manual');
    await gap(s);
    void push(s, { operation: 'update', path: 'items[1].qty', after: 20 });
    await flush();
    await answerSync(s, [
      stored(2, 'u2', { op: 'delete', path: 'items[1]' }, null),
      stored(3, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x'),
    ]);
    expect(s.frames.map(payload)).toMatchObject([{ path: 'items[1].qty', after: 20, baseVersion: 1 }]);
    // Not shown meanwhile: the server will not apply it.
    expect(s.manager.getState('customer', '42').document).toEqual({ name: 'x', items: [{ qty: 1 }, { qty: 3 }] });
  });

  it('a held change refused with VERSION_CONFLICT rejects with LOCAL_CONFLICT and is not resent against the head', async () => {
    const s = await setupHeldSync({ price: 100, name: 'n' }, 'manual');
    await gap(s);
    const b = outcomeOf(push(s, { operation: 'update', path: 'price', after: 90 }));
    await flush();
    await answerSync(s, [
      stored(2, 'u2', { op: 'update', path: 'price', value: 120 }, 120),
      stored(3, 'u2', { op: 'update', path: 'name', value: 'x' }, 'x'),
    ]);
    s.server.error(s.sock, s.frames[0]!, 'VERSION_CONFLICT', { details: { version: 3 } });
    await flush();
    await flush();
    expect(s.frames).toHaveLength(1);
    expect(await b).toBe('LOCAL_CONFLICT');
  });

  describe('the user\'s own earlier change applied after the other user\'s', () => {
    const doc = { customer: { name: 'n', phone: 'p' } };
    /** A sets customer.phone (in flight), B the whole customer (queued); another user sets customer.name (v2). */
    const start = async (): Promise<{ s: Setup; b: Promise<string> }> => {
      const s = await setup(doc, 'manual');
      void push(s, { operation: 'update', path: 'customer.phone', after: 'q' });
      const b = outcomeOf(push(s, { operation: 'update', path: 'customer', after: { name: 'm', phone: 'q' } }));
      await flush();
      s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'update', path: 'customer.name', value: 'x' }, 'x') });
      await flush();
      return { s, b };
    };

    it('touching the waiting change: it rejects with LOCAL_CONFLICT instead of being reported against the user\'s own change', async () => {
      const { s, b } = await start();
      ackUpdate(s, s.frames[0]!, 3, 'customer.phone', 'q'); // A was not held: another path than v2's
      await flush();
      await flush();
      // From base 1 the server would hold it against v3, the user's own; from base 3 apply it over v2.
      expect(s.frames).toHaveLength(1);
      expect(await b).toBe('LOCAL_CONFLICT');
    });

    it('a later change by another user to its path holds it again, from the base after the user\'s own change', async () => {
      const { s, b } = await start();
      const a = s.frames[0]!;
      // A's own change event comes before its ack, then another user's change to the customer.
      s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(3, 'u1', { op: 'update', path: 'customer.phone', value: 'q' }, 'q', a.messageId) });
      s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(4, 'u3', { op: 'update', path: 'customer.name', value: 'y' }, 'y') });
      await flush();
      ackUpdate(s, a, 3, 'customer.phone', 'q');
      await flush();
      await flush();
      expect(s.frames.map(payload)[1]).toMatchObject({ path: 'customer', baseVersion: 3 });
      void b;
    });
  });
});

describe('manual entity: a waiting change and a sync answered with the whole document', () => {
  /** 149 changes by others the client learns of by a gap: the sync answers with the whole document at v150. */
  const wholeDocument = async (s: Setup, document: Record<string, unknown>): Promise<void> => {
    s.snapshot = { version: 150, document };
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(150, 'u2', { op: 'update', path: 'note', value: 'z' }, 'z') });
    await flush();
    await flush();
    expect(s.manager.getState('customer', '42').version).toBe(150);
  };

  it('a queued change whose path holds another value there is refused with REBASE_FAILED, not sent over it at the head', async () => {
    const s = await setup({ price: 100, name: 'n' }, 'manual');
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
    const price = outcomeOf(push(s, { operation: 'update', path: 'price', after: 90 }));
    const status = outcomeOf(push(s, { operation: 'update', path: 'status', after: 'vip' }));
    await flush();
    await wholeDocument(s, { price: 120, name: 'n', note: 'z' }); // someone set the price
    ackUpdate(s, s.frames[0]!, 151, 'name', 'm');
    await flush();
    await flush();
    // Only the one whose path no one changed goes out at the head.
    expect(s.frames.map(payload).slice(1)).toMatchObject([{ path: 'status', baseVersion: 151 }]);
    expect(await price).toBe('REBASE_FAILED');
    ackUpdate(s, s.frames[1]!, 152, 'status', 'vip');
    expect(await status).toBe('152');
  });

  it('a queued change to the path of the user\'s own change applied among those changes still goes out', async () => {
    const s = await setup({ price: 100, name: 'n' }, 'manual');
    void push(s, { operation: 'update', path: 'price', after: 90 }); // in flight, applied among them
    void push(s, { operation: 'update', path: 'price', after: 95 });
    await flush();
    await wholeDocument(s, { price: 90, name: 'n', note: 'z' });
    ackUpdate(s, s.frames[0]!, 140, 'price', 90);
    await flush();
    await flush();
    expect(s.frames.map(payload)[1]).toMatchObject({ path: 'price', after: 95, baseVersion: 150 });
  });

  it('an in-flight change refused with VERSION_CONFLICT after such a sync is not sent again over another user\'s value', async () => {
    const s = await setup({ price: 100, name: 'n' }, 'manual');
    const price = outcomeOf(push(s, { operation: 'update', path: 'price', after: 90 }));
    await flush();
    await wholeDocument(s, { price: 120, name: 'n', note: 'z' });
    // The server no longer keeps the changes since base 1.
    s.server.error(s.sock, s.frames[0]!, 'VERSION_CONFLICT', { details: { version: 150 } });
    await flush();
    await flush();
    expect(s.frames).toHaveLength(1);
    expect(await price).toBe('REBASE_FAILED');
  });
});
