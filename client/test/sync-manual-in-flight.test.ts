import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Change, RealtimeSyncManager } from '../src/index.js';
import type { DocumentValue } from '../src/document.js';
import { FakeWebSocket, type SentFrame } from './fake-websocket.js';
import { flush, payload } from './rebase-harness.js';
import { RebasingServer } from './rebasing-server.js';

// A manual entity: the user's change in flight, sent against version 1,
// and another user's change to its path applied after that base. The
// server holds the change back as a conflict with it, as long as it keeps
// the changes since the base; when it answers VERSION_CONFLICT instead
// (it no longer keeps them, or cannot store the conflict), the change must
// not go out again at the head, where nothing would show the server the
// other user's change and it would be applied over it. As for a change
// queued behind (sync-manual-base.test.ts), it rejects with LOCAL_CONFLICT.

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

const outcomeOf = (p: Promise<Change>): Promise<string> =>
  p.then((c) => String(c.metadata?.['outcome'] ?? c.version), (e: { code: string }) => e.code);

/** Follows customer 42 on `server` and pushes `input`, held by the server: in flight. */
async function inFlight(
  server: RebasingServer,
  input: Record<string, unknown>,
): Promise<{ m: RealtimeSyncManager; outcome: Promise<string>; error: Promise<unknown> }> {
  server.hold = true;
  const m = await server.follow();
  const sent = m.pushChange({ entityType: 'customer', entityId: '42', ...input } as never);
  const outcome = outcomeOf(sent);
  const error = sent.then(() => null, (e: unknown) => e);
  await flush();
  expect(server.held).not.toBeNull();
  return { m, outcome, error };
}

/** Answers the change in flight with VERSION_CONFLICT (the server no longer keeps the changes since its base). */
async function versionConflict(server: RebasingServer): Promise<void> {
  server.fake.error(server.sock, server.held as SentFrame, 'VERSION_CONFLICT', { details: { version: server.version } });
  await flush();
  await flush();
  await flush();
}

const doc = (): DocumentValue => ({ price: 100, name: 'n', items: [{ qty: 1 }, { qty: 2 }] });

describe('manual entity: the change in flight and another user\'s change to its path', () => {
  it('refused with VERSION_CONFLICT, it rejects with LOCAL_CONFLICT instead of overwriting the other user\'s value', async () => {
    const server = new RebasingServer('manual', doc());
    const { m, outcome, error } = await inFlight(server, { operation: 'update', path: 'price', after: 90 });
    const other = server.remote({ op: 'update', path: 'price', value: 120 });
    server.event(other);
    await flush();
    await versionConflict(server);
    expect(server.doc).toMatchObject({ price: 120 });
    expect(server.frames).toHaveLength(1);
    expect(await outcome).toBe('LOCAL_CONFLICT');
    expect(await error).toMatchObject({ code: 'LOCAL_CONFLICT', retryable: false, details: { remoteChange: { id: other.id } } });
    expect(m.getState('customer', '42')).toMatchObject({ version: 2, document: { price: 120 }, localChanges: [] });
  });

  it('the same when the other user\'s change reaches it only with the sync after VERSION_CONFLICT', async () => {
    const server = new RebasingServer('manual', doc());
    const { outcome } = await inFlight(server, { operation: 'update', path: 'price', after: 90 });
    server.remote({ op: 'update', path: 'price', value: 120 }); // its event not come yet
    await versionConflict(server);
    expect(server.doc).toMatchObject({ price: 120 });
    expect(server.frames).toHaveLength(1);
    expect(await outcome).toBe('LOCAL_CONFLICT');
  });

  it('an edit of a list element another user deleted meanwhile rejects with LOCAL_CONFLICT, not settled as dropped', async () => {
    const server = new RebasingServer('manual', doc());
    const { outcome } = await inFlight(server, { operation: 'update', path: 'items[1].qty', after: 20 });
    server.event(server.remote({ op: 'delete', path: 'items[1]' }));
    await flush();
    await versionConflict(server);
    expect(server.frames).toHaveLength(1);
    expect(await outcome).toBe('LOCAL_CONFLICT');
  });

  it('another user\'s change to another path: sent again at the head and applied', async () => {
    const server = new RebasingServer('manual', doc());
    const { m, outcome } = await inFlight(server, { operation: 'update', path: 'price', after: 90 });
    server.event(server.remote({ op: 'update', path: 'name', value: 'x' }));
    await flush();
    await versionConflict(server);
    expect(payload(server.frames[1])).toMatchObject({ path: 'price', after: 90, baseVersion: 2 });
    expect(await outcome).toBe('3');
    expect(server.doc).toMatchObject({ price: 90, name: 'x' });
    await flush();
    expect(m.getState('customer', '42')).toMatchObject({ version: 3, document: server.doc, localChanges: [] });
  });

  it('an edit of a list element another user moved: sent again at the head at the element\'s new index', async () => {
    const server = new RebasingServer('manual', doc());
    const { outcome } = await inFlight(server, { operation: 'update', path: 'items[1].qty', after: 20 });
    server.event(server.remote({ op: 'insert', path: 'items[0]', value: { qty: 0 } }));
    await flush();
    await versionConflict(server);
    expect(payload(server.frames[1])).toMatchObject({ path: 'items[2].qty', after: 20, baseVersion: 2 });
    expect(await outcome).toBe('3');
    expect(server.doc).toMatchObject({ items: [{ qty: 0 }, { qty: 1 }, { qty: 20 }] });
  });

  it('answered by the server as a conflict, it settles with the local side as before', async () => {
    const server = new RebasingServer('manual', doc());
    const { m, outcome } = await inFlight(server, { operation: 'delete', path: 'items[1]' });
    server.event(server.remote({ op: 'delete', path: 'items[1]' }));
    await flush();
    server.deliver(server.held as SentFrame, server.decide(server.held as SentFrame));
    await flush();
    expect(await outcome).toBe('0');
    expect(m.getState('customer', '42').conflicts).toHaveLength(1);
  });
});
