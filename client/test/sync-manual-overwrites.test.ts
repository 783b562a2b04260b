import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DocumentValue } from '../src/document.js';
import { FakeWebSocket } from './fake-websocket.js';
import { ackUpdate, flush, payload, push, setup, stored } from './rebase-harness.js';

// On a manual entity, a sync answered with the whole document tells a
// waiting change whether its path holds another value than the one it was
// written on (someone changed it among changes the server no longer
// keeps): such a change is refused with REBASE_FAILED, not sent over them.
// What the whole document holds is compared with what the change was
// written on.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

/** An object nested `depth` levels deep under `a`, with `leaf` at the bottom. */
function nested(depth: number, leaf: unknown): DocumentValue {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v as DocumentValue;
}

/** The change in flight unless a test says otherwise: `name` set to `m`, acked as such. */
const setName = { input: { operation: 'update', path: 'name', after: 'm' }, path: 'name', value: 'm' };

/**
 * A manual customer whose first change (`first`) is in flight and second
 * (`waiting`) waits; a skipped version makes it sync, answered with `next`
 * at version 3, then the first is acked at 4 as setting `first.path` to
 * `first.value`. The second's outcome: its version or error code.
 */
async function wholeDocumentSync(
  doc: Record<string, unknown>,
  waiting: Record<string, unknown>,
  next: Record<string, unknown>,
  first: { input: Record<string, unknown>; path: string; value: unknown } = setName,
): Promise<{ s: Awaited<ReturnType<typeof setup>>; second: Promise<string> }> {
  const s = await setup(doc, 'manual');
  void push(s, first.input); // in flight
  const second = push(s, waiting).then((c) => String(c.version), (e: { code: string }) => e.code);
  await flush();
  s.snapshot = { version: 3, document: next };
  s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(3, 'u2', { op: 'update', path: 'note', value: 'z' }, 'z') });
  await flush();
  await flush();
  ackUpdate(s, s.frames[0]!, 4, first.path, first.value);
  await flush();
  await flush();
  return { s, second };
}

describe('a manual change waiting through a whole-document sync', () => {
  it('a document nested thousands deep is compared without running out of stack', async () => {
    const deep = (): DocumentValue => nested(3_000, 1);
    const { s, second } = await wholeDocumentSync(
      { name: 'n', deep: deep() },
      { operation: 'update', path: 'deep', after: 2 },
      { name: 'n', deep: deep(), note: 'z' },
    );
    const state = s.manager.getState('customer', '42');
    expect(state.error).toBeNull();
    expect(state.version).toBeGreaterThanOrEqual(3);
    // Same value at its path as before: not an overwrite, it goes out.
    expect(s.frames.map(payload)[1]).toMatchObject({ path: 'deep', after: 2 });
    void second;
  });

  it('one that differs at the bottom of such a document is still refused', async () => {
    const { s, second } = await wholeDocumentSync(
      { name: 'n', deep: nested(3_000, 1) },
      { operation: 'update', path: 'deep', after: 2 },
      { name: 'n', deep: nested(3_000, 9), note: 'z' },
    );
    expect(await second).toBe('REBASE_FAILED');
    expect(s.frames).toHaveLength(1);
  });
});

// Increments commute: the server adds one to whatever the value is, and
// it cannot overwrite another user's change, however the value changed.
describe('a manual increment waiting through a whole-document sync', () => {
  it('goes out after the user\'s own increment, whose float sum differs from the server\'s (0.1 + 0.2 vs 0.3)', async () => {
    const { s } = await wholeDocumentSync(
      { name: 'n', price: 0.1 },
      { operation: 'increment', path: 'price', delta: 0.5 },
      { name: 'n', price: 0.3, note: 'z' },
      { input: { operation: 'increment', path: 'price', delta: 0.2 }, path: 'price', value: 0.3 },
    );
    expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'increment', path: 'price', delta: '0.5', baseVersion: 4 });
  });

  it('goes out after another user changed the value among the changes the sync skipped', async () => {
    const { s } = await wholeDocumentSync(
      { name: 'n', price: 1 },
      { operation: 'increment', path: 'price', delta: 2 },
      { name: 'n', price: 7, note: 'z' },
    );
    expect(s.frames.map(payload)[1]).toMatchObject({ operation: 'increment', path: 'price', delta: '2', baseVersion: 4 });
  });
});
