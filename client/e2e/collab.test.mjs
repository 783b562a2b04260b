// End-to-end: two users on the same order in two chromium contexts, on the
// demo page served by the real local server.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  artifactsDir,
  connectionId,
  connectionState,
  fieldValue,
  launchBrowser,
  openAs,
  sleep,
  startServer,
  waitFor,
} from './harness.mjs';

const ANN = { userId: 'ann', username: 'Ann Srisuk' };
const BOB = { userId: 'bob', username: 'Bob Chaiyo' };

async function shot(page, name) {
  await page.screenshot({ path: join(artifactsDir(), `${name}.png`), fullPage: true });
}

async function waitOpen(page, what) {
  await waitFor(async () => (await connectionState(page)) === 'open', { timeout: 20_000, what: `${what} connected` });
}

/** Types into a field of the order (the editor takes the lock on focus). */
async function edit(page, path, value) {
  const f = page.locator(`[data-field="${path}"]`);
  await f.click();
  await f.fill(value);
  await f.blur();
}

async function waitField(page, path, value, what) {
  await waitFor(async () => (await fieldValue(page, path)) === value, { timeout: 20_000, what });
}

describe('order editor, two users, memory store', () => {
  let server;
  let chrome;
  let ann;
  let bob;

  before(async () => {
    server = await startServer();
    chrome = await launchBrowser();
    ann = await openAs(chrome.browser, server.base, ANN);
    bob = await openAs(chrome.browser, server.base, BOB);
    await waitOpen(ann.page, 'Ann');
    await waitOpen(bob.page, 'Bob');
  });

  after(async () => {
    await chrome?.close();
    await server?.stop();
  });

  test('each sees the other in the room and their cursor', async () => {
    await ann.page.waitForSelector('[data-testid=presence-avatars] [data-user=bob]', { timeout: 15_000 });
    await bob.page.waitForSelector('[data-testid=presence-avatars] [data-user=ann]', { timeout: 15_000 });
    const editor = await ann.page.locator('[data-testid=order-editor]').boundingBox();
    for (let i = 0; i < 5; i++) {
      await ann.page.mouse.move(editor.x + 200 + i * 20, editor.y + 150 + i * 10);
      await sleep(60);
    }
    await bob.page.waitForSelector('[data-testid=remote-cursor][data-user=ann]', { timeout: 10_000 });
    const bobEditor = await bob.page.locator('[data-testid=order-editor]').boundingBox();
    for (let i = 0; i < 3; i++) {
      await bob.page.mouse.move(bobEditor.x + 400, bobEditor.y + 300 + i * 15);
      await sleep(60);
    }
    await ann.page.waitForSelector('[data-testid=remote-cursor][data-user=bob]', { timeout: 10_000 });
    await shot(ann.page, '01-ann-presence-cursor');
    await shot(bob.page, '01-bob-presence-cursor');
  });

  test('an edit in one appears in the other, and the lock shows a banner there', async () => {
    await edit(ann.page, 'customer.name', 'Chiang Mai Foods Ltd.');
    await waitField(bob.page, 'customer.name', 'Chiang Mai Foods Ltd.', "Ann's edit in Bob's page");
    const banner = bob.page.locator('[data-testid=lock-banner]');
    await banner.waitFor({ timeout: 10_000 });
    assert.match(await banner.innerText(), /Ann Srisuk/);
    assert.equal(await bob.page.locator('[data-field="customer.name"]').getAttribute('readonly'), '');
    await ann.page.locator('[data-testid=lock-mine]').waitFor({ timeout: 5_000 });
    await shot(ann.page, '02-ann-editing');
    await shot(bob.page, '02-bob-lock-banner');
  });

  test('a page cut off catches up on the edits it missed when it comes back', async () => {
    const bobConn = await connectionId(bob.page);
    assert.ok(bobConn, "Bob's connection id");
    // Cut Bob: no network for his context, and the server drops his socket.
    await bob.context.setOffline(true);
    await server.cut(bobConn);
    await waitFor(async () => (await connectionState(bob.page)) !== 'open', { timeout: 15_000, what: 'Bob cut off' });
    // No stale figures while cut off: the latency shows only on an open connection.
    assert.equal(await bob.page.locator('[data-testid=latency]').count(), 0, 'no latency figure while not connected');

    // Ann edits while Bob stays cut.
    await edit(ann.page, 'notes', 'Deliver before noon; call on arrival.');
    await edit(ann.page, 'items.rice.qty', '42');
    await waitFor(async () => (await ann.page.getAttribute('[data-testid=sync-state]', 'data-state')) === 'synced' &&
      (await ann.page.locator('[data-testid=sync-state]').innerText()).indexOf('unsaved') < 0, { what: "Ann's edits saved" });
    const annVersion = Number(await ann.page.getAttribute('[data-testid=sync-state]', 'data-version'));
    await sleep(1500);
    assert.notEqual(await connectionState(bob.page), 'open', 'Bob stayed cut');
    assert.equal(await fieldValue(bob.page, 'notes'), '', 'Bob has not seen the edit yet');
    await shot(bob.page, '03-bob-offline');

    // Bob comes back by himself: reconnects, resubscribes, syncs.
    await bob.context.setOffline(false);
    await waitOpen(bob.page, 'Bob again');
    await waitField(bob.page, 'notes', 'Deliver before noon; call on arrival.', 'missed notes edit');
    await waitField(bob.page, 'items.rice.qty', '42', 'missed quantity edit');
    await waitFor(async () => Number(await bob.page.getAttribute('[data-testid=sync-state]', 'data-version')) === annVersion, {
      what: 'same version on both pages',
    });
    assert.notEqual(await connectionId(bob.page), bobConn, 'a new connection');
    // Live again: the next edit arrives without a reload.
    await edit(ann.page, 'shipping', '1 Nimman Rd, Chiang Mai 50200');
    await waitField(bob.page, 'shipping', '1 Nimman Rd, Chiang Mai 50200', 'live edit after reconnect');
    await shot(bob.page, '04-bob-caught-up');
    assert.deepEqual(ann.errors, []);
    assert.deepEqual(bob.errors, []);
  });

  test('comments, history and the activity feed reach the other page; Thai strings', async () => {
    await ann.page.click('[data-testid=tab-comments]');
    await ann.page.fill('[data-testid=comment-input]', 'Customer confirmed by phone');
    await ann.page.click('[data-testid=comment-submit]');
    await bob.page.click('[data-testid=tab-comments]');
    await bob.page.locator('[data-testid=comment]', { hasText: 'Customer confirmed by phone' }).waitFor({ timeout: 10_000 });
    await bob.page.locator('[data-testid=activity-feed] li', { hasText: 'Order #1001' }).first().waitFor({ timeout: 10_000 });
    assert.match(await bob.page.locator('[data-testid=activity-feed]').innerText(), /Ann Srisuk/);
    await bob.page.click('[data-testid=tab-history]');
    await bob.page.locator('[data-testid=history] li', { hasText: 'shipping' }).waitFor({ timeout: 10_000 });
    await bob.page.click('[data-testid=language]');
    await bob.page.getByText('ประวัติ').first().waitFor({ timeout: 5_000 });
    assert.match(await bob.page.locator('[data-testid=connection-status]').innerText(), /เชื่อมต่อแล้ว/);
    await shot(bob.page, '05-bob-history-thai');
    await shot(ann.page, '05-ann-comments');
  });
});
