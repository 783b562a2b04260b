// The harness of the tests of local changes rebased past other users':
// a customer entity (operational-transform unless told otherwise) whose
// local changes the fake server holds until the test acks them, and
// whose syncs answer with the whole document of \`snapshot\`.
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
  const client = new WebSocketClient({
    url: 'ws://test.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0, maxConnectionAge: 0, rateLimit: false,
    random: () => 0.5,
  });
  client.connect();
  s.sock = FakeWebSocket.last;
  s.sock.open();
  await flush();
  s.manager = new RealtimeSyncManager({ client, loadHistory: false });
  await s.manager.startSync('customer', '42');
  return s;
}

export function stored(version: number, userId: string, op: ChangeOp, after: unknown, messageId?: string): Change {
  const c: Change = {
    id: `customer:42:${version}`, entityType: 'customer', entityId: '42', userId, operation: op.op,
    path: op.path, before: null, after, op, timestamp: new Date().toISOString(), resolved: true, version,
  };
  if (messageId !== undefined) c.messageId = messageId;
  return c;
}

export const push = (s: Setup, input: Record<string, unknown>): Promise<Change> =>
  s.manager.pushChange({ entityType: 'customer', entityId: '42', ...input } as never);

export const payload = (f: SentFrame | undefined): Record<string, unknown> => (f?.payload ?? {}) as Record<string, unknown>;
