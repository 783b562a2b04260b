import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Change, ChangeOp, RealtimeSyncManager } from '../src/index.js';
import type { DocumentValue } from '../src/document.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { flush, payload } from './rebase-harness.js';
import { RebasingServer } from './rebasing-server.js';

// This user's change in flight meets another user's concurrent change on
// the server and nothing is left of it (operational-transform: answered
// `dropped`; manual: held back as a conflict). The ack and the other
// user's change event travel different paths (in AWS the route response
// and a PostToConnection broadcast), so either may come first. The local
// changes queued behind it were written on a document where it applied:
// each must be carried past the other change exactly once, whatever the
// order, and land where its author put it.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

const items = (): DocumentValue => ({
  items: [{ n: 'a', qty: 1 }, { n: 'b', qty: 2 }, { n: 'c', qty: 3 }, { n: 'd', qty: 4 }],
});

interface Case {
  name: string;
  /** This user's change in flight, which the other change leaves with nothing. */
  first: Record<string, unknown>;
  /** The other user's change, stored first. */
  other: ChangeOp;
  /** Queued behind the first, written on the document where it applied. */
  queued: Record<string, unknown>[];
  /** Where the queued changes go out at the head, carried past the other change. */
  sentPaths: string[];
  /** Where the first goes out when the other change cannot be fetched: at the base before it, the first change's effect moved back. */
  sentBefore: string;
  expected: DocumentValue;
}

const cases: Case[] = [
  {
    name: 'both delete the same row',
    first: { operation: 'delete', path: 'items[1]' }, // b
    other: { op: 'delete', path: 'items[1]' }, // b
    queued: [
      { operation: 'update', path: 'items[1].qty', after: 30 }, // c
      { operation: 'update', path: 'items[2].qty', after: 40 }, // d
    ],
    sentPaths: ['items[1].qty', 'items[2].qty'],
    sentBefore: 'items[2].qty',
    expected: { items: [{ n: 'a', qty: 1 }, { n: 'c', qty: 30 }, { n: 'd', qty: 40 }] },
  },
  {
    name: 'a row moved that the other user deleted',
    first: { operation: 'move', path: 'items', from: 0, to: 3 }, // a to the end: b c d a
    other: { op: 'delete', path: 'items[0]' }, // a
    queued: [
      { operation: 'update', path: 'items[0].qty', after: 20 }, // b
      { operation: 'insert', path: 'items[3]', after: { n: 'x', qty: 9 } }, // before a: after d
    ],
    sentPaths: ['items[0].qty', 'items[3]'],
    sentBefore: 'items[1].qty',
    expected: { items: [{ n: 'b', qty: 20 }, { n: 'c', qty: 3 }, { n: 'd', qty: 4 }, { n: 'x', qty: 9 }] },
  },
];

type Order = 'event first' | 'ack first' | 'ack first, and the sync it asks for fails';

/**
 * Pushes `k.first` and `k.queued`, stores the other user's change while
 * the first is in flight, answers the first as the server decides it then
 * and delivers that answer and the other change's event in `order`; the
 * later changes are answered at once. Returns the settled changes.
 */
async function play(server: RebasingServer, k: Case, order: Order): Promise<{ m: RealtimeSyncManager; first: Change; queued: Change[]; ack: Record<string, unknown>; messageId: string }> {
  const m = await server.follow();
  const push = (input: Record<string, unknown>): Promise<Change> => m.pushChange({ entityType: 'customer', entityId: '42', ...input } as never);
  server.hold = true;
  const first = push(k.first);
  const queued = k.queued.map(push);
  await flush();
  const other = server.remote(k.other);
  const frame = server.held as SentFrame;
  const { ack } = server.decide(frame);
  server.failSyncs = order === 'ack first, and the sync it asks for fails' ? 1 : 0;
  if (order === 'event first') {
    server.event(other);
    await flush();
    server.fake.ack(server.sock, frame, ack);
  } else {
    server.fake.ack(server.sock, frame, ack);
    await flush();
    await flush();
    server.event(other);
  }
  return { m, first: await first, queued: await Promise.all(queued), ack, messageId: frame.messageId };
}

describe('a change the server left with nothing: the queued changes meet the other change once, whichever arrives first', () => {
  for (const k of cases) {
    for (const order of ['event first', 'ack first', 'ack first, and the sync it asks for fails'] as const) {
      it(`operational-transform, ${k.name}: ${order}`, async () => {
        const server = new RebasingServer('operational-transform', items());
        const { m, first, queued, ack } = await play(server, k, order);
        expect(ack).toMatchObject({ outcome: 'dropped', applied: false, version: 2 });
        expect(first.metadata).toMatchObject({ outcome: 'dropped' });
        expect(server.failed).toBe(order.endsWith('fails') ? 1 : 0);
        // Each went out at the head, carried past the other change once
        // (or, when it could not be fetched, against the version before
        // it, the first change's effect moved back), and was applied.
        const sent = server.frames.slice(1).map((f) => ({ path: payload(f)['path'], baseVersion: payload(f)['baseVersion'] }));
        if (server.failed === 0) expect(sent).toEqual(k.sentPaths.map((path, i) => ({ path, baseVersion: 2 + i })));
        else expect(sent[0]).toEqual({ path: k.sentBefore, baseVersion: 1 });
        expect(queued.map((c) => c.metadata?.['outcome'] ?? 'applied')).toEqual(k.queued.map(() => 'applied'));
        expect(server.doc).toEqual(k.expected);
        await flush();
        expect(m.getState('customer', '42')).toMatchObject({ version: server.version, document: k.expected, localChanges: [] });
      });
    }
  }

  for (const order of ['event first', 'ack first'] as const) {
    it(`manual, held back as a conflict: ${order}`, async () => {
      const k = cases[0] as Case;
      const server = new RebasingServer('manual', items());
      const { m, first, queued, ack, messageId } = await play(server, k, order);
      expect(ack).toMatchObject({ outcome: 'conflict', applied: false, version: 2 });
      expect(first.id).toBe(`pending-${messageId}`);
      // Not held back themselves: nothing since their base changed their paths.
      expect(queued.map((c) => c.version)).toEqual([3, 4]);
      expect(server.doc).toEqual(k.expected);
      await flush();
      expect(m.getState('customer', '42')).toMatchObject({ version: server.version, document: k.expected, localChanges: [] });
    });
  }
});
