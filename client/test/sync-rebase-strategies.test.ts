import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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


describe('rebasing waiting changes, by strategy', () => {
  it('an in-flight text edit refused with VERSION_CONFLICT after a whole-document sync is not resent with stale positions on the new head', async () => {
    const s = await setup({ notes: 'abc' });
    const a = push(s, { operation: 'text', path: 'notes', text: [{ retain: 3 }, { insert: '!' }] });
    const code = a.then((c) => `resolved ${JSON.stringify(c.metadata)}`, (e: { code: string }) => e.code);
    await flush();
    expect(s.frames).toHaveLength(1);
    // Meanwhile 149 changes by others; the client learns of them by a gap, and the sync answers with the whole document.
    s.snapshot = { version: 150, document: { notes: '>>>abc' } };
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(150, 'u2', { op: 'text', path: 'notes', text: [{ insert: '>' }] }, '>>>abc') });
    await flush();
    await flush();
    expect(s.manager.getState('customer', '42').version).toBe(150);
    // The server no longer keeps the history since base 1: VERSION_CONFLICT.
    s.server.error(s.sock, s.frames[0]!, 'VERSION_CONFLICT', { details: { version: 150 } });
    await flush();
    await flush();
    await flush();
    const resent = s.frames[1];
    if (resent !== undefined) {
      const p = payload(resent);
      const result = applyLocalChange({ notes: '>>>abc' }, { operation: 'text', path: 'notes', text: p['text'] as never });
      // The author put "!" after "abc".
      expect({ baseVersion: p['baseVersion'], result }).toEqual({ baseVersion: 150, result: { notes: '>>>abc!' } });
    } else {
      expect(await code).toBe('REBASE_FAILED');
    }
  });

  it('an in-flight text edit refused with VERSION_CONFLICT after incremental changes is resent transformed', async () => {
    const s = await setup({ notes: 'abc' });
    void push(s, { operation: 'text', path: 'notes', text: [{ retain: 3 }, { insert: '!' }] });
    await flush();
    s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'text', path: 'notes', text: [{ insert: '>' }] }, '>abc') });
    await flush();
    expect(s.manager.getState('customer', '42').document).toEqual({ notes: '>abc!' });
    s.snapshot = { version: 2, document: { notes: '>abc' } };
    s.server.error(s.sock, s.frames[0]!, 'VERSION_CONFLICT', { details: { version: 2 } });
    await flush();
    await flush();
    await flush();
    const p = payload(s.frames[1]);
    const result = applyLocalChange({ notes: '>abc' }, { operation: 'text', path: 'notes', text: p['text'] as never });
    expect({ baseVersion: p['baseVersion'], result }).toEqual({ baseVersion: 2, result: { notes: '>abc!' } });
  });

  for (const strategy of ['crdt', 'last-write-wins']) {
    it(`${strategy}: a queued increment is sent, not settled as dropped, after another user set the number`, async () => {
      const s = await setup({ name: 'n', stock: 5 }, strategy);
      void push(s, { operation: 'update', path: 'name', after: 'm' }); // in flight
      const q = push(s, { operation: 'increment', path: 'stock', delta: -1 });
      await flush();
      s.sock.receive({ type: 'change', channel: 'customer:42', payload: stored(2, 'u2', { op: 'update', path: 'stock', value: 10 }, 10) });
      await flush();
      s.server.ack(s.sock, s.frames[0]!, { outcome: 'applied', applied: true, version: 3,
        change: stored(3, 'u1', { op: 'update', path: 'name', value: 'm' }, 'm', s.frames[0]!.messageId) });
      await flush();
      await flush();
      void q;
      // Sent as written (the server adds it up, or applies it at the head), not settled as dropped.
      expect(s.frames).toHaveLength(2);
      expect(payload(s.frames[1])).toMatchObject({ operation: 'increment', path: 'stock', baseVersion: 3 });
    });
  }
});
