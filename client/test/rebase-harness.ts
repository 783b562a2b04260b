// The harness of the tests of local changes rebased past other users':
// a customer entity (operational-transform unless told otherwise) whose
// local changes the fake server holds until the test acks them, and
// whose syncs answer with the whole document of \`snapshot\` (or, with
// setupHeldSync, whose second sync waits for the test).
import { vi } from 'vitest';
import { RealtimeSyncManager, WebSocketClient, type Change, type ChangeOp } from '../src/index.js';
import type { DocumentValue } from '../src/document.js';
import { FakeServer, FakeWebSocket, type SentFrame } from './fake-websocket.js';

export const flush = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

export interface Setup {
  strategy: string;
  manager: RealtimeSyncManager;
  server: FakeServer;
  sock: FakeWebSocket;
  /** The change frames received, in order. */
  frames: SentFrame[];
  /** What the next sync answers: the whole document at a version. */
  snapshot: { version: number; document: DocumentValue };
}

export async function setup(document: DocumentValue, strategy = 'operational-transform'): Promise<Setup> {
  const s = { strategy, frames: [], snapshot: { version: 1, document } } as unknown as Setup;
  s.server = new FakeServer({
    handler: (sock, f) => {
      switch (f.type) {
        case 'sync':
          s.server.ack(sock, f, {
            strategy: s.strategy, version: s.snapshot.version, snapshot: true, document: s.snapshot.document,
            changes: [], hasMore: false, nextSinceVersion: s.snapshot.version, conflicts: [], lock: null,
          });
          return true;
        case 'change':
          s.frames.push(f);
          return true; // acked by the test
      }
      return false;
    },
  });
  return Object.assign(s, await follow());
}

/** A connected client (no pacing, no heartbeat) and a manager following customer 42, once its first sync is answered. */
export async function follow(): Promise<{ sock: FakeWebSocket; manager: RealtimeSyncManager; client: WebSocketClient }> {
  const client = new WebSocketClient({
    url: 'ws://test.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0, maxConnectionAge: 0, rateLimit: false,
    random: () => 0.5,
  });
  client.connect();
  const sock = FakeWebSocket.last;
  sock.open();
  await flush();
  const manager = new RealtimeSyncManager({ client, loadHistory: false });
  await manager.startSync('customer', '42');
  return { sock, manager, client };
}

/** A customer entity whose first sync answers with `document` at version 1 and whose second sync waits for the test. */
export interface HeldSyncSetup {
  manager: RealtimeSyncManager;
  server: FakeServer;
  sock: FakeWebSocket;
  /** The change frames received, in order (acked by the test). */
  frames: SentFrame[];
  /** The sync frames received: the second is answered by the test, the later ones with nothing new. */
  syncs: SentFrame[];
}

export async function setupHeldSync(document: DocumentValue, strategy = 'operational-transform'): Promise<HeldSyncSetup> {
  const s = { frames: [], syncs: [] } as unknown as HeldSyncSetup;
  s.server = new FakeServer({
    handler: (sock, f) => {
      if (f.type === 'sync') {
        s.syncs.push(f);
        if (s.syncs.length === 1) {
          s.server.ack(sock, f, { strategy, version: 1, snapshot: true, document,
            changes: [], hasMore: false, nextSinceVersion: 1, conflicts: [], lock: null });
        }
        if (s.syncs.length >= 3) {
          // a repeat asked while the second ran: nothing new since
          const since = (f.payload as Record<string, unknown>)['sinceVersion'];
          s.server.ack(sock, f, { strategy, version: since, snapshot: false, document: null,
            changes: [], hasMore: false, nextSinceVersion: since, conflicts: [], lock: null });
        }
        return true; // the second is answered by the test
      }
      if (f.type === 'change') { s.frames.push(f); return true; }
      return false;
    },
  });
  return Object.assign(s, await follow());
}

export function stored(version: number, userId: string, op: ChangeOp, after: unknown, messageId?: string): Change {
  const c: Change = {
    id: `customer:42:${version}`, entityType: 'customer', entityId: '42', userId, operation: op.op,
    path: op.path, before: null, after, op, timestamp: new Date().toISOString(), resolved: true, version,
  };
  if (messageId !== undefined) c.messageId = messageId;
  return c;
}

/** Answers a change request as applied at `version`: an update of `path` to `value`. */
export const ackUpdate = (s: { server: FakeServer; sock: FakeWebSocket }, f: SentFrame, version: number, path: string, value: unknown): void => {
  s.server.ack(s.sock, f, { outcome: 'applied', applied: true, version,
    change: stored(version, 'u1', { op: 'update', path, value }, value, f.messageId) });
};

export const push = (s: { manager: RealtimeSyncManager }, input: Record<string, unknown>): Promise<Change> =>
  s.manager.pushChange({ entityType: 'customer', entityId: '42', ...input } as never);

export const payload = (f: SentFrame | undefined): Record<string, unknown> => (f?.payload ?? {}) as Record<string, unknown>;
