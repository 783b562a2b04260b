// End-to-end on the DynamoDB store (moto): the server is stopped and
// started again under two open pages; both reconnect by themselves and no
// change is lost, not even one typed while the server was down.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  artifactsDir,
  connectionState,
  fieldValue,
  launchBrowser,
  openAs,
  sleep,
  startServer,
  waitFor,
} from './harness.mjs';

const endpoint = process.env.DYNAMODB_TEST_ENDPOINT;
const ANN = { userId: 'ann', username: 'Ann Srisuk' };
const BOB = { userId: 'bob', username: 'Bob Chaiyo' };

async function waitOpen(page, what) {
  await waitFor(async () => (await connectionState(page)) === 'open', { timeout: 30_000, what: `${what} connected` });
}

async function edit(page, path, value) {
  const f = page.locator(`[data-field="${path}"]`);
  await f.click();
  await f.fill(value);
  await f.blur();
}

async function waitField(page, path, value, what) {
  await waitFor(async () => (await fieldValue(page, path)) === value, { timeout: 30_000, what });
}

const version = async (page) => Number(await page.getAttribute('[data-testid=sync-state]', 'data-version'));

describe('server restart on the DynamoDB store', { skip: endpoint ? false : 'DYNAMODB_TEST_ENDPOINT is not set (run through scripts/with-moto.sh)' }, () => {
  const env = { DYNAMODB_ENDPOINT: endpoint ?? '', TABLE_NAME: `rtcollab-e2e-${process.pid}-${Date.now()}` };
  let server;
  let chrome;

  before(async () => {
    server = await startServer({ env });
    chrome = await launchBrowser();
  });

  after(async () => {
    await chrome?.close();
    await server?.stop();
  });

  test('both pages reconnect by themselves and no change is lost', async () => {
    const order = '2002';
    const ann = await openAs(chrome.browser, server.base, { ...ANN, order });
    const bob = await openAs(chrome.browser, server.base, { ...BOB, order, lang: 'th' });
    await waitOpen(ann.page, 'Ann');
    await waitOpen(bob.page, 'Bob');

    await edit(ann.page, 'customer.name', 'Phuket Seafood Co.');
    await edit(ann.page, 'items.oil.qty', '30');
    await waitField(bob.page, 'items.oil.qty', '30', "Ann's edits in Bob's page");
    await waitField(bob.page, 'customer.name', 'Phuket Seafood Co.', "Ann's edits in Bob's page");
    const before = await version(ann.page);

    // Stop the server under both pages.
    await server.stop();
    await waitFor(async () => (await connectionState(ann.page)) !== 'open', { what: 'Ann notices the stop' });
    await waitFor(async () => (await connectionState(bob.page)) !== 'open', { what: 'Bob notices the stop' });
    // Ann keeps typing while the server is down: the change waits in her page.
    await edit(ann.page, 'notes', 'Typed while the server was down');
    await sleep(500);
    await ann.page.screenshot({ path: join(artifactsDir(), '07-ann-server-down.png'), fullPage: true });

    // The same server again, same table and port.
    server = await startServer({ env, port: server.port });
    await waitOpen(ann.page, 'Ann after the restart');
    await waitOpen(bob.page, 'Bob after the restart');

    await waitField(bob.page, 'notes', 'Typed while the server was down', 'the change typed during the outage');
    assert.equal(await fieldValue(bob.page, 'customer.name'), 'Phuket Seafood Co.');
    assert.equal(await fieldValue(bob.page, 'items.oil.qty'), '30');
    await waitFor(async () => (await version(ann.page)) === before + 1 && (await version(bob.page)) === before + 1, {
      what: 'one more version, on both pages',
    });

    // A page opened afresh reads the same, from the table.
    const carol = await openAs(chrome.browser, server.base, { userId: 'chai', username: 'Chai Wongsa', order });
    await waitOpen(carol.page, 'Chai');
    await waitField(carol.page, 'notes', 'Typed while the server was down', 'stored notes');
    assert.equal(await fieldValue(carol.page, 'customer.name'), 'Phuket Seafood Co.');
    assert.equal(await fieldValue(carol.page, 'items.oil.qty'), '30');
    assert.equal(await version(carol.page), before + 1);

    // And the pages are live again.
    await edit(ann.page, 'shipping', '5 Patong Beach Rd, Phuket 83150');
    await waitField(bob.page, 'shipping', '5 Patong Beach Rd, Phuket 83150', 'live edit after the restart');
    await waitField(carol.page, 'shipping', '5 Patong Beach Rd, Phuket 83150', 'live edit after the restart');
    await ann.page.screenshot({ path: join(artifactsDir(), '08-ann-after-restart.png'), fullPage: true });
    await bob.page.screenshot({ path: join(artifactsDir(), '08-bob-after-restart-th.png'), fullPage: true });
    for (const p of [ann, bob, carol]) assert.deepEqual(p.errors, []);
  });
});
