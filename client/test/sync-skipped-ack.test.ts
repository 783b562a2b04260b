import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Change, RealtimeSyncManager } from '../src/index.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { flush, payload } from './rebase-harness.js';
import { RebasingServer } from './rebasing-server.js';

// This user's change in flight is applied after another user's change
// that this client has not seen yet: its ack names a version past the
// next one, and may come before the other change's event (replies and
// events travel by different paths). The manager then syncs for the
// changes in between while the change still waits; the local changes
// queued behind it were written on a document where it applied. When that
// sync fails, its own change, arriving later, must still be taken as its
// own: rebased into the queued changes as another user's, it would move
// them a second time.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * Pushes `first` and `queued`; stores `other` (another user's change)
 * while the first is in flight, then answers the first, as the server
 * decides it, before the other change's event, with the next `failSyncs`
 * syncs failing. The queued changes are answered at once.
 */
async function play(
  server: RebasingServer,
  first: Record<string, unknown>,
  queued: Record<string, unknown>,
  other: Parameters<RebasingServer['remote']>[0],
  failSyncs: number,
): Promise<{ m: RealtimeSyncManager; first: Change; queued: Change }> {
  const m = await server.follow();
  const push = (input: Record<string, unknown>): Promise<Change> => m.pushChange({ entityType: 'customer', entityId: '42', ...input } as never);
  server.hold = true;
  const a = push(first);
  const b = push(queued);
  await flush();
  const event = server.remote(other);
  const frame = server.held as SentFrame;
  const { ack } = server.decide(frame);
  server.failSyncs = failSyncs;
  server.fake.ack(server.sock, frame, ack);
  // Retries wait (backoff) with the fake clock.
  await vi.advanceTimersByTimeAsync(120_000);
  server.event(event);
  await flush();
  return { m, first: await a, queued: await b };
}

const rows = (): { items: { n: string; qty: number }[] } => ({
  items: [{ n: 'a', qty: 1 }, { n: 'b', qty: 2 }, { n: 'c', qty: 3 }, { n: 'd', qty: 4 }],
});

describe('an ack that skips a version, and the sync for the changes in between fails', () => {
  for (const failSyncs of [1, 3]) {
    it(`operational-transform: a queued list edit lands on its element (${failSyncs} failed syncs)`, async () => {
      const server = new RebasingServer('operational-transform', rows());
      const { m, first, queued } = await play(
        server,
        { operation: 'insert', path: 'items[2]', after: { n: 'x', qty: 0 } }, // between b and c
        { operation: 'update', path: 'items[3].qty', after: 30 }, // row c, behind the new row
        { op: 'delete', path: 'items[0]' }, // a: the insert is merged at items[1]
        failSyncs,
      );
      expect(server.failed).toBe(failSyncs);
      expect(first).toMatchObject({ version: 3, path: 'items[1]' });
      expect(queued.version).toBe(4);
      expect(server.doc).toEqual({ items: [{ n: 'b', qty: 2 }, { n: 'x', qty: 0 }, { n: 'c', qty: 30 }, { n: 'd', qty: 4 }] });
      expect(m.getState('customer', '42')).toMatchObject({ version: 4, document: server.doc, localChanges: [] });
    });
  }

  // The wait ends without the changes in between: the change is then
  // taken as not applied in the queued one (what it moved moved back), and
  // its own event, when it comes, is carried into it as another user's,
  // once.
  for (const code of ['FORBIDDEN', 'UNAVAILABLE']) {
    it(`syncs that keep failing (${code}) end the wait: the queued change goes out and lands on its element`, async () => {
      const server = new RebasingServer('operational-transform', rows());
      server.syncErrorCode = code;
      const m = await server.follow();
      const push = (input: Record<string, unknown>): Promise<Change> => m.pushChange({ entityType: 'customer', entityId: '42', ...input } as never);
      server.hold = true;
      const a = push({ operation: 'insert', path: 'items[2]', after: { n: 'x', qty: 0 } }); // between b and c
      const b = push({ operation: 'update', path: 'items[3].qty', after: 30 }); // row c, behind the new row
      await flush();
      server.remote({ op: 'delete', path: 'items[0]' });
      const frame = server.held as SentFrame;
      const { ack } = server.decide(frame);
      server.failSyncs = 1_000;
      server.fake.ack(server.sock, frame, ack);
      await flush();
      if (code === 'FORBIDDEN') {
        // No backoff to wait out (the fake clock does not move): the refusal is not retryable.
        expect(server.frames).toHaveLength(2);
      }
      // A retryable failure is tried again with backoff, a bounded number of times.
      await vi.advanceTimersByTimeAsync(600_000);
      const failed = server.failed;
      await vi.advanceTimersByTimeAsync(600_000);
      expect(server.failed).toBe(failed);
      expect(server.frames).toHaveLength(2);
      await expect(a).resolves.toMatchObject({ version: 3 });
      await expect(b).resolves.toMatchObject({ version: 4 });
      expect(server.doc).toEqual({ items: [{ n: 'b', qty: 2 }, { n: 'x', qty: 0 }, { n: 'c', qty: 30 }, { n: 'd', qty: 4 }] });
      // The events come, in order.
      server.failSyncs = 0;
      for (const c of server.log) server.event(c);
      await flush();
      expect(m.getState('customer', '42')).toMatchObject({ version: 4, document: server.doc, localChanges: [] });
    });
  }

  it('the last of the 8 syncs failing ends the wait at once, without another backoff', async () => {
    const server = new RebasingServer('operational-transform', rows());
    const m = await server.follow();
    const push = (input: Record<string, unknown>): Promise<Change> => m.pushChange({ entityType: 'customer', entityId: '42', ...input } as never);
    server.hold = true;
    const a = push({ operation: 'insert', path: 'items[2]', after: { n: 'x', qty: 0 } });
    const b = push({ operation: 'update', path: 'items[3].qty', after: 30 });
    await flush();
    server.remote({ op: 'delete', path: 'items[0]' });
    const frame = server.held as SentFrame;
    server.failSyncs = 1_000;
    server.fake.ack(server.sock, frame, server.decide(frame).ack);
    // Each backoff runs out, and the next sync fails, until the last one.
    while (server.failed < 8) await vi.advanceTimersToNextTimerAsync();
    await flush(); // the clock does not move: nothing is left to wait for
    expect(server.frames).toHaveLength(2);
    await expect(a).resolves.toMatchObject({ version: 3 });
    await vi.advanceTimersByTimeAsync(600_000); // the queued change's own wait for the syncs that keep failing
    await expect(b).resolves.toMatchObject({ version: 4 });
  });

  it('manual: a queued change to the same path goes out against the head, not against the user\'s own change', async () => {
    const server = new RebasingServer('manual', { price: 100, name: 'n' });
    await play(
      server,
      { operation: 'update', path: 'price', after: 90 },
      { operation: 'update', path: 'price', after: 95 },
      { op: 'update', path: 'name', value: 'x' },
      1,
    );
    // From base 2 the server's manual rule would hold it back as a conflict with the user's own change (v3).
    expect(payload(server.frames[1])).toMatchObject({ path: 'price', after: 95, baseVersion: 3 });
  });
});
