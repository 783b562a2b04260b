// A fake server for customer 42 that decides local changes as the real one
// does (rebased past the changes since their base), for the tests of what
// becomes of the changes queued behind one whose answer is not simply
// "applied at the next version".
import type { Change, ChangeOp, Conflict, RealtimeSyncManager, WebSocketClient } from '../src/index.js';
import { applyLocalChange, getPath, type DocumentValue } from '../src/document.js';
import { transformOp, type DocOp } from '../src/ot.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { follow, payload, stored } from './rebase-harness.js';

/** A change request's answer: the ack, and the change event a real server broadcasts for it. */
export interface Answer {
  ack: Record<string, unknown>;
  event?: Change;
}

/**
 * A server for customer 42 that decides changes as the real one does:
 * an operation is rebased past the changes since its base, the incoming
 * one winning ties (package ot); operational-transform answers `dropped`
 * when nothing is left of it, and manual holds it back as a conflict with
 * the change that left nothing (the server's manual rule also holds back
 * a change whose path a change since its base wrote; this one does not).
 * Syncs answer with the changes since the version asked for. `hold` keeps
 * the next change request for the test to decide and answer.
 */
export class RebasingServer {
  readonly fake: FakeServer;
  sock!: FakeWebSocket;
  client!: WebSocketClient;
  version = 1;
  doc: DocumentValue;
  readonly log: Change[] = [];
  /** The change requests received, in order. */
  readonly frames: SentFrame[] = [];
  /** Keep the next change request (`held`) for the test to decide and answer. */
  hold = false;
  held: SentFrame | null = null;
  /** How many of the next syncs fail (UNAVAILABLE). */
  failSyncs = 0;
  /** The code of a failed sync: UNAVAILABLE (retryable) unless a test sets a refusal for good. */
  syncErrorCode = 'UNAVAILABLE';
  /** How many syncs failed. */
  failed = 0;
  /** The change requests that fail, undecided, with \`changeErrorCode\` (retryable). */
  failChange: ((f: SentFrame) => boolean) | null = null;
  changeErrorCode = 'UNAVAILABLE';

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
          if (this.failSyncs > 0) {
            this.failSyncs--;
            this.failed++;
            this.fake.error(sock, f, this.syncErrorCode, { retryable: this.syncErrorCode === 'UNAVAILABLE' });
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
          if (this.failChange?.(f) === true) {
            this.fake.error(sock, f, this.changeErrorCode, { retryable: true });
          } else if (this.hold) {
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

  /** A connected client and a manager following customer 42, once its first sync is answered. */
  async follow(): Promise<RealtimeSyncManager> {
    const { sock, manager, client } = await follow();
    this.sock = sock;
    this.client = client;
    return manager;
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
    if (p['text'] !== undefined) sent.text = p['text'] as NonNullable<DocOp['text']>;
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
    const l = { operation: op.op, path: op.path, after: op.value, from: op.from, to: op.to, text: op.text };
    this.doc = applyLocalChange(this.doc, l);
    this.version++;
    const after = op.op === 'delete' ? null : getPath(this.doc, op.path);
    const c = stored(this.version, userId, op, after, messageId);
    this.log.push(c);
    return c;
  }
}
