import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeSyncManager, WebSocketClient, type Change, type ChangeOp, type Conflict } from '../src/index.js';
import { applyLocalChange, getPath, type DocumentValue } from '../src/document.js';
import { transformOp, type DocOp } from '../src/ot.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { flush, payload, stored } from './rebase-harness.js';

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

/**
 * A server for customer 42 that decides changes as the real one does:
 * an operation is rebased past the changes since its base, the incoming
 * one winning ties (package ot); operational-transform answers `dropped`
 * when nothing is left of it, and manual holds it back as a conflict with
 * the change that left nothing (the server's manual rule also holds back
 * a change whose path a change since its base wrote; no change here meets
 * one). Syncs answer with the changes since the version asked for.
 * `hold` keeps the next change request for the test to decide and answer.
 */
class Server {
  readonly fake: FakeServer;
  sock!: FakeWebSocket;
  version = 1;
  doc: DocumentValue;
  readonly log: Change[] = [];
  /** The change requests received, in order. */
  readonly frames: SentFrame[] = [];
  /** Keep the next change request (`held`) for the test to decide and answer. */
  hold = false;
  held: SentFrame | null = null;
  /** The next sync fails (UNAVAILABLE). */
  failSync = false;
  /** How many syncs failed. */
  failed = 0;

  constructor(
    readonly strategy: 'operational-transform' | 'manual',
    doc: DocumentValue,
  ) {
    this.doc = doc;
    this.fake = new FakeServer({
      handler: (sock, f) => {
        const p = payload(f);
        if (f.type === 'sync') {
          const since = p['sinceVersion'] as number;
          if (this.failSync) {
            this.failSync = false;
            this.failed++;
            this.fake.error(sock, f, 'UNAVAILABLE', { retryable: true });
            return true;
          }
          this.fake.ack(sock, f, {
            strategy: this.strategy, version: this.version, snapshot: since === 0, document: this.doc,
            changes: this.log.filter((c) => c.version > since), hasMore: false, nextSinceVersion: this.version,
            conflicts: [], lock: null,
          });
          return true;
        }
        if (f.type === 'change') {
          this.frames.push(f);
          if (this.hold) {
            this.hold = false;
            this.held = f;
          } else {
            this.deliver(f, this.decide(f));
          }
          return true;
        }
        return false;
      },
    });
  }

  /** Another user's change, stored now; its event is returned, not sent. */
  remote(op: ChangeOp): Change {
    return this.store(op, 'u2');
  }

  event(c: Change): void {
    this.sock.receive({ type: 'change', channel: 'customer:42', payload: c });
  }

  /** Answers a change as a server whose broadcast comes first. */
  deliver(f: SentFrame, a: Answer): void {
    if (a.event !== undefined) this.event(a.event);
    this.fake.ack(this.sock, f, a.ack);
  }

  decide(f: SentFrame): Answer {
    const p = payload(f);
    const sent: DocOp = { op: p['operation'] as string, path: p['path'] as string };
    if (p['after'] !== undefined) sent.value = p['after'];
    if (p['from'] !== undefined) sent.from = p['from'] as number;
    if (p['to'] !== undefined) sent.to = p['to'] as number;
    const head = { entityType: 'customer', entityId: '42', version: this.version };
    let op = sent;
    const notices: string[] = [];
    for (const c of this.log.filter((x) => x.version > (p['baseVersion'] as number))) {
      const t = transformOp(op, c.op as DocOp, true);
      if (t.notice !== undefined) notices.push(t.notice);
      if (t.ok) {
        op = t.op;
        continue;
      }
      if (this.strategy === 'operational-transform') return { ack: { ...head, outcome: 'dropped', applied: false, notices } };
      const localChange = { ...stored(0, 'u1', sent as ChangeOp, sent.value, f.messageId), id: `pending-${f.messageId}` };
      const conflict: Conflict = {
        id: `cf-${f.messageId}`, entityType: 'customer', entityId: '42', path: sent.path, localChange,
        remoteChange: c, resolutionStrategy: 'manual', resolved: false,
      };
      return { ack: { ...head, outcome: 'conflict', applied: false, conflict } };
    }
    const outcome = op === sent ? 'applied' : 'merged';
    const change = this.store(op as ChangeOp, 'u1', f.messageId);
    return { ack: { ...head, version: change.version, outcome, applied: true, change }, event: change };
  }

  private store(op: ChangeOp, userId: string, messageId?: string): Change {
    const l = { operation: op.op, path: op.path, after: op.value, from: op.from, to: op.to };
    this.doc = applyLocalChange(this.doc, l);
    this.version++;
    const after = op.op === 'delete' ? null : getPath(this.doc, op.path);
    const c = stored(this.version, userId, op, after, messageId);
    this.log.push(c);
    return c;
  }
}

interface Answer {
  ack: Record<string, unknown>;
  event?: Change;
}

async function follow(server: Server): Promise<RealtimeSyncManager> {
  const client = new WebSocketClient({
    url: 'ws://test.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0, maxConnectionAge: 0, rateLimit: false,
    random: () => 0.5,
  });
  client.connect();
  server.sock = FakeWebSocket.last;
  server.sock.open();
  await flush();
  const manager = new RealtimeSyncManager({ client, loadHistory: false });
  await manager.startSync('customer', '42');
  return manager;
}

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
async function play(server: Server, k: Case, order: Order): Promise<{ m: RealtimeSyncManager; first: Change; queued: Change[]; ack: Record<string, unknown>; messageId: string }> {
  const m = await follow(server);
  const push = (input: Record<string, unknown>): Promise<Change> => m.pushChange({ entityType: 'customer', entityId: '42', ...input } as never);
  server.hold = true;
  const first = push(k.first);
  const queued = k.queued.map(push);
  await flush();
  const other = server.remote(k.other);
  const frame = server.held as SentFrame;
  const { ack } = server.decide(frame);
  server.failSync = order === 'ack first, and the sync it asks for fails';
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
        const server = new Server('operational-transform', items());
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
      const server = new Server('manual', items());
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
