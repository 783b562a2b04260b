// End-to-end in Chromium: the demo's order-updates dashboard shows every
// update, once and in offset order, after its connection is cut (through
// the Management API, as API Gateway's idle or 2-hour limit would) while
// updates keep being published.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { artifactsDir, connectionId, connectionState, launchBrowser, openAs, startServer, waitFor } from './harness.mjs';

/** A publisher on its own WebSocket (the dev identity), publishing one update at a time. */
async function publisher(port, userId) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?userId=${userId}`);
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  const waiting = new Map();
  ws.on('message', (data) => {
    const f = JSON.parse(String(data));
    const w = waiting.get(f.replyTo);
    if (w) {
      waiting.delete(f.replyTo);
      w(f);
    }
  });
  let seq = 0;
  return {
    async publish(payload) {
      const id = `${userId}-${++seq}`;
      const reply = new Promise((res) => waiting.set(id, res));
      ws.send(JSON.stringify({ type: 'publish', channel: 'order-updates', messageId: id, payload }));
      const f = await reply;
      assert.equal(f.type, 'ack', `publish ${id}: ${JSON.stringify(f)}`);
      return f.payload.offset;
    },
    close: () => ws.close(),
  };
}

const offsetsShown = async (page) => (await page.textContent('[data-testid=order-updates-offsets]')) ?? '';
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i).join(',');

describe('order-updates dashboard across a forced reconnect', () => {
  let server;
  let chrome;

  before(async () => {
    server = await startServer();
    chrome = await launchBrowser();
  });

  after(async () => {
    await chrome?.close();
    await server?.stop();
  });

  test('every update is shown once, in order, after the connection is cut', async () => {
    const ann = await openAs(chrome.browser, server.base, { userId: 'ann', username: 'Ann Srisuk', order: '3003' });
    await waitFor(async () => (await connectionState(ann.page)) === 'open', { timeout: 30_000, what: 'Ann connected' });
    const pub = await publisher(server.port, 'dispatcher');
    try {
      // The dashboard subscribes once the page is open: publish until it
      // shows an update; from then on it must show every one.
      let firstShown = 0;
      let last = 0;
      await waitFor(
        async () => {
          last = await pub.publish({ orderId: 'probe' });
          const shown = await offsetsShown(ann.page);
          firstShown = Number(shown.split(',')[0]);
          return shown !== '';
        },
        { timeout: 15_000, what: 'the dashboard subscribed' },
      );
      const publish = async (n, status) => {
        for (let i = 0; i < n; i++) last = await pub.publish({ orderId: `o-${i}`, status });
      };
      await publish(10, 'packed');
      await waitFor(async () => (await offsetsShown(ann.page)) === range(firstShown, last), { what: 'the first updates' });

      const before = await connectionId(ann.page);
      await server.cut(before);
      await publish(20, 'shipped');
      await waitFor(async () => (await connectionId(ann.page)) !== before && (await connectionState(ann.page)) === 'open', {
        timeout: 30_000,
        what: 'Ann reconnected',
      });
      await publish(5, 'delivered');
      await waitFor(async () => (await offsetsShown(ann.page)) === range(firstShown, last), {
        timeout: 30_000,
        what: `offsets ${firstShown}..${last}`,
      });
      assert.equal(await ann.page.locator('[data-testid=order-updates-recovery-failed]').count(), 0);
      await ann.page.screenshot({ path: join(artifactsDir(), 'order-updates-after-reconnect.png') });
      assert.deepEqual(ann.errors, []);
    } finally {
      pub.close();
    }
  });
});
