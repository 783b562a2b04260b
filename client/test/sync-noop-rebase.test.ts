import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChangeOp } from '../src/index.js';
import type { DocumentValue } from '../src/document.js';
import { FakeWebSocket } from './fake-websocket.js';
import { flush, payload, push, setup, stored } from './rebase-harness.js';

// Another user's change is carried past the user's waiting changes as the
// server carries those past it: only past the ones that changed the
// document shown. A change that did not apply to it (a move out of the
// list's bounds) moved nothing there and moves nothing on the server (it
// refuses it): carried past it, the other change's list indexes would
// shift, and a later change meeting it would be taken for one on another
// element.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

const rows = [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }, { sku: 'c', qty: 3 }];

/**
 * Renames the sheet (in flight), then queues a move out of bounds and an
 * edit of row b; another user's `remote` comes (version 2) and the rename
 * is applied (version 3); the server refuses the move. The change
 * requests, the document shown once `remote` came, and the move's outcome.
 */
async function behindMove(strategy: string, remote: ChangeOp): Promise<{ sent: Record<string, unknown>[]; shown: DocumentValue; move: string }> {
  const s = await setup({ name: 'n', items: rows }, strategy);
  void push(s, { operation: 'update', path: 'name', after: 'm' });
  const move = push(s, { operation: 'move', path: 'items', from: 5, to: 0 }).then(() => 'settled', (e: { code: string }) => e.code);
  void push(s, { operation: 'update', path: 'items[1].qty', after: 20 });
  await flush();
  expect(s.manager.getState('customer', '42').document).toEqual({ name: 'm', items: [rows[0], { sku: 'b', qty: 20 }, rows[2]] });
  s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', remote, remote.value) });
  await flush();
  const shown = s.manager.getState('customer', '42').document;
  s.server.ack(s.sock, s.frames[0]!, { outcome: 'applied', applied: true, version: 3,
    change: stored(3, 'u1', { op: 'update', path: 'name', value: 'm' }, 'm', s.frames[0]!.messageId) });
  await flush();
  expect(payload(s.frames[1])).toMatchObject({ operation: 'move', to: 0 });
  s.server.error(s.sock, s.frames[1]!, 'BAD_REQUEST');
  await flush();
  await flush();
  return { sent: s.frames.map(payload), shown, move: await move };
}

describe('another user\'s change and a waiting move that showed nothing', () => {
  it('manual: a queued edit of the element the other user changed is held against that change, not sent over it', async () => {
    const { sent, move } = await behindMove('manual', { op: 'update', path: 'items[1].qty', value: 50 });
    // The move meets the change to its list: held, sent against version 1.
    expect(sent[1]).toMatchObject({ baseVersion: 1 });
    // Row b's edit goes out against version 1 too, so that the server
    // holds it as a conflict with the other user's value; against
    // version 3 it would overwrite that value with no conflict.
    expect(sent[2]).toMatchObject({ operation: 'update', path: 'items[1].qty', after: 20, baseVersion: 1 });
    expect(move).toBe('BAD_REQUEST');
  });

  it('manual: a queued edit of another element than the other user changed is not held, and goes out at the head', async () => {
    // Carried past the move, row a's change would name row b (index 1)
    // and the edit would be held against it, a conflict between two rows.
    const { sent } = await behindMove('manual', { op: 'update', path: 'items[0].qty', value: 5 });
    expect(sent[2]).toMatchObject({ operation: 'update', path: 'items[1].qty', after: 20, baseVersion: 3 });
  });

  it('operational-transform: a queued edit is carried past the other user\'s insert at the index the insert gives it, not shifted by the move', async () => {
    // Another user inserts a row before row b: row b moves to index 2.
    const { sent, shown, move } = await behindMove('operational-transform', { op: 'insert', path: 'items[1]', value: { sku: 'x', qty: 0 } });
    expect(shown).toEqual({ name: 'm', items: [rows[0], { sku: 'x', qty: 0 }, { sku: 'b', qty: 20 }, rows[2]] });
    expect(sent[1]).toMatchObject({ baseVersion: 3 });
    expect(sent[2]).toMatchObject({ operation: 'update', path: 'items[2].qty', after: 20, baseVersion: 3 });
    expect(move).toBe('BAD_REQUEST');
  });
});
