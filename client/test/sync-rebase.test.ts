import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChangeOp } from '../src/index.js';
import { applyLocalChange } from '../src/document.js';
import { FakeWebSocket } from './fake-websocket.js';
import { flush, payload, push, setup, stored } from './rebase-harness.js';

// A customer (operational-transform) whose first local change is held in
// flight by the server until the test acks it, while other users' changes
// arrive: the local changes queued behind it must go out rebased past them.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('local changes waiting behind one in flight are rebased past other users\' changes', () => {
  it('a queued text edit is sent against the version that holds a concurrent insert, its position moved', async () => {
    const s = await setup({ notes: 'abc' });
    void push(s, { operation: 'text', path: 'notes', text: [{ insert: 'X' }] }); // A, in flight
    const b = push(s, { operation: 'text', path: 'notes', text: [{ retain: 4 }, { insert: '!' }] }); // B, written on "Xabc"
    await flush();
    expect(s.manager.getState('customer', '42').document).toEqual({ notes: 'Xabc!' });
    // Another user puts "123" in front (v2). This event carries no op: the edit is told from the strings.
    const remote = stored(2, 'u2', { op: 'text', path: 'notes' }, '123abc');
    delete remote.op;
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: remote });
    await flush();
    // A, in flight, wins the tie at 0 on the server; B follows the text it was written after.
    expect(s.manager.getState('customer', '42').document).toEqual({ notes: 'X123abc!' });
    const a = s.frames[0]!;
    expect(payload(a)).toMatchObject({ baseVersion: 1, text: [{ insert: 'X' }] });
    s.server.ack(s.sock, a, { outcome: 'merged', applied: true, version: 3,
      change: stored(3, 'u1', { op: 'text', path: 'notes', text: [{ insert: 'X' }] }, 'X123abc', a.messageId) });
    await flush();
    await flush();
    const sentB = payload(s.frames[1]);
    expect(sentB).toMatchObject({ baseVersion: 3, text: [{ retain: 7 }, { insert: '!' }] });
    // Applied as sent on the head, it lands where its author put it.
    expect(applyLocalChange({ notes: 'X123abc' }, { operation: 'text', path: 'notes', text: sentB['text'] as never })).toEqual({ notes: 'X123abc!' });
    s.server.ack(s.sock, s.frames[1]!, { outcome: 'applied', applied: true, version: 4,
      change: stored(4, 'u1', { op: 'text', path: 'notes', text: sentB['text'] as NonNullable<ChangeOp['text']> }, 'X123abc!', s.frames[1]!.messageId) });
    await expect(b).resolves.toMatchObject({ version: 4 });
    expect(s.manager.getState('customer', '42').document).toEqual({ notes: 'X123abc!' });
  });

  it('a queued list edit follows its element when another user inserts before it', async () => {
    const s = await setup({ name: 'n', items: [{ qty: 1 }, { qty: 2 }, { qty: 3 }] });
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
    void push(s, { operation: 'update', path: 'items[1].qty', after: 20 });
    void push(s, { operation: 'move', path: 'items', from: 2, to: 0 });
    await flush();
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'insert', path: 'items[0]', value: { qty: 0 } }, { qty: 0 }) });
    await flush();
    // The server's rule: an insert and a move into the same gap put the new element first.
    expect(s.manager.getState('customer', '42').document).toEqual({ name: 'm', items: [{ qty: 0 }, { qty: 3 }, { qty: 1 }, { qty: 20 }] });
    const a = s.frames[0]!;
    s.server.ack(s.sock, a, { outcome: 'applied', applied: true, version: 3, change: stored(3, 'u1', { op: 'update', path: 'name', value: 'm' }, 'm', a.messageId) });
    await flush();
    await flush();
    expect(payload(s.frames[1])).toMatchObject({ baseVersion: 3, operation: 'update', path: 'items[2].qty', after: 20 });
    s.server.ack(s.sock, s.frames[1]!, { outcome: 'applied', applied: true, version: 4,
      change: stored(4, 'u1', { op: 'update', path: 'items[2].qty', value: 20 }, 20, s.frames[1]!.messageId) });
    await flush();
    await flush();
    expect(payload(s.frames[2])).toMatchObject({ baseVersion: 4, operation: 'move', path: 'items', from: 3, to: 1 });
  });

  it('a queued change whose element another user deleted settles as dropped without being sent', async () => {
    const s = await setup({ name: 'n', items: [{ qty: 1 }, { qty: 2 }] });
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
    const b = push(s, { operation: 'update', path: 'items[1].qty', after: 20 });
    const c = push(s, { operation: 'insert', path: 'items[2]', after: { qty: 9 } });
    await flush();
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'delete', path: 'items[1]' }, null) });
    await flush();
    expect(s.manager.getState('customer', '42').document).toEqual({ name: 'm', items: [{ qty: 1 }, { qty: 9 }] });
    const a = s.frames[0]!;
    s.server.ack(s.sock, a, { outcome: 'applied', applied: true, version: 3, change: stored(3, 'u1', { op: 'update', path: 'name', value: 'm' }, 'm', a.messageId) });
    await flush();
    await flush();
    const settled = await b;
    expect(settled.metadata).toMatchObject({ outcome: 'dropped' });
    expect(settled.notices?.[0]).toContain('element deleted');
    // The next one goes out, its index moved down.
    expect(s.frames).toHaveLength(2);
    expect(payload(s.frames[1])).toMatchObject({ baseVersion: 3, operation: 'insert', path: 'items[1]' });
    s.server.ack(s.sock, s.frames[1]!, { outcome: 'applied', applied: true, version: 4,
      change: stored(4, 'u1', { op: 'insert', path: 'items[1]', value: { qty: 9 } }, { qty: 9 }, s.frames[1]!.messageId) });
    await expect(c).resolves.toMatchObject({ version: 4 });
  });

  it('the change in flight is shown transformed but not changed, and the server\'s answer stands', async () => {
    const s = await setup({ notes: 'abc' });
    const a = push(s, { operation: 'text', path: 'notes', text: [{ retain: 3 }, { insert: '!' }] });
    await flush();
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'text', path: 'notes', text: [{ insert: '>' }] }, '>abc') });
    await flush();
    expect(s.manager.getState('customer', '42').document).toEqual({ notes: '>abc!' });
    expect(s.frames).toHaveLength(1);
    expect(payload(s.frames[0])).toMatchObject({ baseVersion: 1, text: [{ retain: 3 }, { insert: '!' }] });
    s.server.ack(s.sock, s.frames[0]!, { outcome: 'merged', applied: true, version: 3,
      change: stored(3, 'u1', { op: 'text', path: 'notes', text: [{ retain: 4 }, { insert: '!' }] }, '>abc!', s.frames[0]!.messageId) });
    await expect(a).resolves.toMatchObject({ version: 3 });
    expect(s.manager.getState('customer', '42')).toMatchObject({ version: 3, document: { notes: '>abc!' }, localChanges: [] });
  });

  it('a queued text edit that cannot be carried past a whole-document sync is refused with REBASE_FAILED', async () => {
    const s = await setup({ notes: 'abc', name: 'n' });
    void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
    const b = push(s, { operation: 'text', path: 'notes', text: [{ retain: 3 }, { insert: '!' }] });
    const c = push(s, { operation: 'update', path: 'status', after: 'vip' });
    const bCode = b.then(() => 'ok', (e: { code: string }) => e.code);
    await flush();
    // A version is skipped; the sync answers with the whole document.
    s.snapshot = { version: 3, document: { notes: 'zz abc', name: 'n' } };
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(3, 'u2', { op: 'text', path: 'notes', text: [{ insert: ' ' }] }, 'zz abc') });
    await flush();
    const a = s.frames[0]!;
    s.server.ack(s.sock, a, { outcome: 'merged', applied: true, version: 4, change: stored(4, 'u1', { op: 'update', path: 'name', value: 'm' }, 'm', a.messageId) });
    await flush();
    await flush();
    expect(await bCode).toBe('REBASE_FAILED');
    // A change that names no position still goes out.
    expect(s.frames).toHaveLength(2);
    expect(payload(s.frames[1])).toMatchObject({ baseVersion: 4, path: 'status' });
    s.server.ack(s.sock, s.frames[1]!, { outcome: 'applied', applied: true, version: 5,
      change: stored(5, 'u1', { op: 'update', path: 'status', value: 'vip' }, 'vip', s.frames[1]!.messageId) });
    await expect(c).resolves.toMatchObject({ version: 5 });
  });
});
