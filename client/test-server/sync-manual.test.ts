/// <reference types="node" />
// Manual conflicts through the RealtimeSyncManager against the real local
// server (`pricing` is a manual entity type): a local change the server
// holds back as a conflict is not in the server's document, so the user's
// changes queued behind it, written on a document where it was, must not
// go out with the list indexes it moved. Nor must they when the server
// refuses it (here BAD_REQUEST: the document would pass 24 KiB).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeSyncManager, type Change, type WebSocketClient } from '../src/index.js';
import { devClient, startLocalServer, until, type LocalServer } from './server.js';

let server: LocalServer;
const clients: WebSocketClient[] = [];
const managers: RealtimeSyncManager[] = [];
let seq = 0;

beforeAll(async () => {
  server = await startLocalServer();
});
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  for (const m of managers.splice(0)) m.destroy();
  for (const c of clients.splice(0)) c.destroy();
});

interface User {
  client: WebSocketClient;
  sync: RealtimeSyncManager;
  push(input: Record<string, unknown>): Promise<Change>;
}

/** A user following the pricing entity `id`, once synced. */
async function user(userId: string, id: string): Promise<User> {
  const client = devClient(server, userId, clients);
  const sync = new RealtimeSyncManager({ client, loadHistory: false });
  managers.push(sync);
  await sync.startSync('pricing', id);
  return { client, sync, push: (input) => sync.pushChange({ entityType: 'pricing', entityId: id, ...input } as never) };
}

const rows = [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }];

/** Ann and Ben on a new price sheet {name, items: [a, b]} at version 2; Ann offline. */
async function start(): Promise<{ id: string; ann: User; ben: User }> {
  const id = `queued-${++seq}`;
  const ann = await user('ann', id);
  await ann.push({ operation: 'update', path: 'name', after: 'n' });
  await ann.push({ operation: 'update', path: 'items', after: rows });
  const ben = await user('ben', id);
  expect(ben.sync.getState('pricing', id).version).toBe(2);
  ann.client.disconnect();
  return { id, ann, ben };
}

/** Ben's view of the server's document once it is at `version`. */
async function serverDoc(ben: User, id: string, version: number): Promise<unknown> {
  await until(() => ben.sync.getState('pricing', id).version === version, 10_000, `version ${version}`);
  return ben.sync.getState('pricing', id).document;
}

describe('manual entity: changes queued behind one held back as a conflict', () => {
  it('a queued list edit goes out at the index its element has without the held-back insert', async () => {
    const { id, ann, ben } = await start();
    // Offline, Ann inserts a row at the top, then sets the quantity of row a (now items[1]).
    const insert = ann.push({ operation: 'insert', path: 'items[0]', after: { sku: 'x', qty: 0 } });
    const qty = ann.push({ operation: 'update', path: 'items[1].qty', after: 10 });
    // Meanwhile Ben renames row a: the insert is held back as a conflict with it.
    await ben.push({ operation: 'update', path: 'items[0].sku', after: 'A' });
    ann.client.connect();

    expect((await insert).resolved).toBe(false);
    expect((await qty).version).toBe(4);
    expect(await serverDoc(ben, id, 4)).toEqual({ name: 'n', items: [{ sku: 'A', qty: 10 }, { sku: 'b', qty: 2 }] });
    await until(() => ann.sync.getState('pricing', id).localChanges.length === 0, 10_000, "Ann's changes settled");
    expect(ann.sync.getState('pricing', id).document).toEqual({ name: 'n', items: [{ sku: 'A', qty: 10 }, { sku: 'b', qty: 2 }] });

    // Settled with Ann's value, the insert lands where it would insert now.
    const conflict = ann.sync.getState('pricing', id).conflicts.find((c) => !c.resolved && c.localChange.operation === 'insert');
    expect(conflict).toBeDefined();
    await ann.sync.resolveConflict(conflict!.id, 'local');
    expect(await serverDoc(ben, id, 5)).toEqual({ name: 'n', items: [{ sku: 'x', qty: 0 }, { sku: 'A', qty: 10 }, { sku: 'b', qty: 2 }] });
  });

  it('a queued edit of the element another user changed is held as a conflict with that change, not applied to the next element', async () => {
    const { id, ann, ben } = await start();
    // Offline, Ann renames the sheet (in flight first), inserts a row at the top and sets row a's quantity.
    const name = ann.push({ operation: 'update', path: 'name', after: 'm' });
    const insert = ann.push({ operation: 'insert', path: 'items[0]', after: { sku: 'x', qty: 0 } });
    const qty = ann.push({ operation: 'update', path: 'items[1].qty', after: 10 });
    // Meanwhile Ben sets row a's quantity: both of Ann's list changes meet it.
    await ben.push({ operation: 'update', path: 'items[0].qty', after: 5 });
    ann.client.connect();

    expect((await name).version).toBe(4);
    expect((await insert).resolved).toBe(false);
    const q = await qty;
    expect(q.resolved).toBe(false);
    expect(q.path).toBe('items[0].qty');
    expect(await serverDoc(ben, id, 4)).toEqual({ name: 'm', items: [{ sku: 'a', qty: 5 }, { sku: 'b', qty: 2 }] });
    const open = await until(() => {
      const cs = ann.sync.getState('pricing', id).conflicts.filter((c) => !c.resolved);
      return cs.length === 2 ? cs : null;
    }, 10_000, "Ann's two conflicts");
    const onQty = open.find((c) => c.localChange.operation === 'update');
    expect(onQty?.remoteChange.path).toBe('items[0].qty');
    expect(onQty?.remoteChange.userId).toBe('ben');
  });
});

describe('manual entity: another user\'s change and a queued move that showed nothing', () => {
  it('a queued edit of the element the other user changed is held as a conflict, not applied over that change', async () => {
    const { id, ann, ben } = await start();
    // Offline, Ann renames the sheet (in flight first), moves a row that
    // is not there (out of bounds: the document shown has nothing of it)
    // and sets row b's quantity.
    const name = ann.push({ operation: 'update', path: 'name', after: 'm' });
    const move = ann.push({ operation: 'move', path: 'items', from: 5, to: 0 }).catch(() => null);
    const qty = ann.push({ operation: 'update', path: 'items[1].qty', after: 20 });
    // Meanwhile Ben sets row b's quantity.
    await ben.push({ operation: 'update', path: 'items[1].qty', after: 50 });
    ann.client.connect();

    expect((await name).version).toBe(4);
    await move;
    expect((await qty).resolved).toBe(false);
    expect(await serverDoc(ben, id, 4)).toEqual({ name: 'm', items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 50 }] });
    const conflict = await until(
      () => ann.sync.getState('pricing', id).conflicts.find((c) => !c.resolved && c.localChange.path === 'items[1].qty') ?? null,
      10_000, "Ann's conflict on row b",
    );
    expect(conflict.remoteChange.userId).toBe('ben');
  });
});

describe('manual entity: changes waiting while a sync answers with the whole document', () => {
  let small: LocalServer;
  beforeAll(async () => {
    // Two changes kept per entity: a client three behind syncs with the whole document.
    small = await startLocalServer({ env: { HISTORY_LIMIT: '2' } });
  });
  afterAll(async () => {
    await small.stop();
  });

  it('a waiting change whose path another user changed meanwhile is not sent over that change', async () => {
    const id = `whole-${++seq}`;
    const follow = async (userId: string): Promise<User> => {
      const client = devClient(small, userId, clients);
      const sync = new RealtimeSyncManager({ client, loadHistory: false });
      managers.push(sync);
      await sync.startSync('pricing', id);
      return { client, sync, push: (input) => sync.pushChange({ entityType: 'pricing', entityId: id, ...input } as never) };
    };
    const ann = await follow('ann');
    await ann.push({ operation: 'update', path: 'name', after: 'n' });
    await ann.push({ operation: 'update', path: 'price', after: 100 });
    const ben = await follow('ben');
    ann.client.disconnect();
    // Offline, Ann renames the sheet and sets the price.
    const name = ann.push({ operation: 'update', path: 'name', after: 'm' });
    const price = ann.push({ operation: 'update', path: 'price', after: 90 }).then(
      (c) => `applied at version ${c.version}`,
      (e: { code: string }) => e.code,
    );
    // Meanwhile Ben sets the price, then two notes: more than the server keeps.
    await ben.push({ operation: 'update', path: 'price', after: 120 });
    await ben.push({ operation: 'update', path: 'note', after: 'a' });
    await ben.push({ operation: 'update', path: 'note', after: 'b' });
    ann.client.connect();

    expect((await name).version).toBe(6);
    expect(await price).toBe('REBASE_FAILED');
    expect(await serverDoc(ben, id, 6)).toEqual({ name: 'm', price: 120, note: 'b' });
  });
});

describe('manual entity: changes queued behind one the server refuses', () => {
  it('a queued list edit goes out at the index its element has without the refused insert', async () => {
    const id = `refused-${++seq}`;
    const ann = await user('ann', id);
    // Two values of 10,000 characters: the document is near its 24 KiB bound.
    await ann.push({ operation: 'update', path: 'a', after: 'a'.repeat(10_000) });
    await ann.push({ operation: 'update', path: 'b', after: 'b'.repeat(10_000) });
    await ann.push({ operation: 'update', path: 'items', after: rows });
    // A row too large for the document, then the quantity of row a, now items[1].
    const insert = ann.push({ operation: 'insert', path: 'items[0]', after: { sku: 'x', note: 'x'.repeat(5_000) } });
    const qty = ann.push({ operation: 'update', path: 'items[1].qty', after: 10 });
    await expect(insert).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(await qty).toMatchObject({ path: 'items[0].qty', version: 4 });
    const ben = await user('ben', id);
    expect(ben.sync.getState('pricing', id).document).toMatchObject({ items: [{ sku: 'a', qty: 10 }, { sku: 'b', qty: 2 }] });
  });
});
