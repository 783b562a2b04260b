// The UI package in chromium: screenshots against reviewed baselines, axe,
// the page position under live activity, the Thai translation check,
// keyboard use and the kept language. The screenshots use the demo's
// fixture page (?fixture: fixed data and clock, no latency figure); the rest
// runs on the live demo with two users editing one order.
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { seriousViolations } from './axe.mjs';
import { artifactsDir, connectionState, launchBrowser, openAs, sleep, startServer, waitFor } from './harness.mjs';
import { matchBaseline } from './pixels.mjs';
import { englishLeaks, englishPatterns, visibleTexts } from './textcheck.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BASELINES = join(here, 'baselines');
const WIDTHS = [390, 1024, 1440];
const HEIGHT = 900;

// No motion, no caret, no scrollbars that fade: the same pixels every run.
const STILL = '*, *::before, *::after { transition: none !important; animation: none !important; caret-color: transparent !important; }';

/** User data and product names that stay as they are in any language. */
const ALLOW = [
  'Ann Srisuk', 'Bob Chaiyo', 'Chai Wongsa', 'Siam Trading Co.', 'Chiang Mai Foods Ltd.', 'buyer@siamtrading.example',
  'Jasmine rice 5 kg', 'Coconut oil 1 L', 'Fish sauce 700 ml', '99 Sukhumvit Rd, Khlong Toei, Bangkok 10110', '1 Nimman Rd, Chiang Mai 50200',
  'Customer confirmed by phone', 'Deliver before noon', 'Pay on delivery', 'Leave at the gate', 'Checked by keyboard', 'Lanna Goods Co.',
  /\b[A-Z]{2}\b/, // initials in avatars
  /การเชื่อมต่อ \S+/, // the connection id
  /^English$/, // the switch to English, written in English on purpose (lang="en")
];

async function openFixture(browser, base, { width, lang }) {
  const context = await browser.newContext({ viewport: { width, height: HEIGHT }, reducedMotion: 'reduce', deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${base}/?fixture=1&lang=${lang}`);
  await page.waitForSelector('[data-testid=activity-entry]');
  await page.addStyleTag({ content: STILL });
  await page.evaluate(() => document.fonts.ready);
  return { context, page };
}

describe('the UI on fixed data (fixture page)', () => {
  let server;
  let chrome;
  let patterns;

  before(async () => {
    server = await startServer();
    chrome = await launchBrowser();
    patterns = await englishPatterns();
  });
  after(async () => {
    await chrome?.close();
    await server?.stop();
  });

  for (const lang of ['en', 'th']) {
    for (const width of WIDTHS) {
      test(`looks as reviewed at ${width} px, ${lang}`, async () => {
        const { context, page } = await openFixture(chrome.browser, server.base, { width, lang });
        try {
          assert.equal(await page.evaluate(() => window.scrollY), 0, 'the page loads at its top');
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          assert.ok(overflow <= 0, `nothing runs off the side (${overflow} px)`);
          const tabRows = await page.evaluate(() => new Set([...document.querySelectorAll('[role=tab]')].map((t) => Math.round(t.getBoundingClientRect().top))).size);
          assert.equal(tabRows, 1, 'the panel tabs stay on one row');
          const tabsCut = await page.evaluate(() => {
            const l = document.querySelector('[role=tablist]');
            return l.scrollWidth - l.clientWidth;
          });
          assert.ok(tabsCut <= 0, `every tab fits (${tabsCut} px cut)`);
          const shot = await page.screenshot({ fullPage: true });
          const r = matchBaseline(shot, join(BASELINES, `fixture-${lang}-${width}.png`), join(artifactsDir(), `fixture-${lang}-${width}`));
          assert.ok(r.match, `fixture-${lang}-${width}: ${r.reason}`);
        } finally {
          await context.close();
        }
      });
    }
  }

  test('the layout holds from 360 to 1920 px', async () => {
    // 390, 1024 and 1440 px are the screenshots' widths, checked the same way there.
    for (const width of [360, 768, 1280, 1920]) {
      for (const lang of ['en', 'th']) {
        const { context, page } = await openFixture(chrome.browser, server.base, { width, lang });
        try {
          const where = `${width} px, ${lang}`;
          const m = await page.evaluate(() => {
            const line = (el) => {
              const r = document.createRange();
              r.selectNodeContents(el);
              return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size;
            };
            const tabs = document.querySelector('[role=tablist]');
            return {
              overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
              titleLines: line(document.querySelector('.topbar-title strong')),
              statusLines: line(document.querySelector('.rtc-conn-state > span:last-child')),
              connIdRight: document.querySelector('.rtc-conn-id').getBoundingClientRect().right,
              tabRows: new Set([...document.querySelectorAll('[role=tab]')].map((t) => Math.round(t.getBoundingClientRect().top))).size,
              tabsCut: tabs.scrollWidth - tabs.clientWidth,
            };
          });
          assert.ok(m.overflow <= 0, `${where}: ${m.overflow} px run off the side`);
          assert.equal(m.titleLines, 1, `${where}: the title wraps`);
          assert.equal(m.statusLines, 1, `${where}: the connection state wraps`);
          assert.ok(m.connIdRight <= width, `${where}: the connection id runs off screen`);
          assert.equal(m.tabRows, 1, `${where}: the tabs wrap`);
          assert.ok(m.tabsCut <= 0, `${where}: ${m.tabsCut} px of tabs cut`);
          // The history's version badge stays a badge.
          await page.click('[data-testid=tab-history]');
          const badge = await page.locator('[data-testid=history] .rtc-badge').first().boundingBox();
          assert.ok(badge.width < 90, `${where}: the version badge is ${badge.width} px wide`);
        } finally {
          await context.close();
        }
      }
    }
  });

  test('a layout change fails the comparison', { skip: process.env.UPDATE_BASELINES === '1' }, async () => {
    const { context, page } = await openFixture(chrome.browser, server.base, { width: 1024, lang: 'en' });
    try {
      // Small regressions of the kinds this suite is for: tabs that grow, a banner that loses its padding.
      for (const css of ['.rtc-tab { padding: .4rem 1.2rem !important; }', '.rtc-banner { padding: 0 !important; }', '.form-grid { gap: 1.1rem !important; }']) {
        const tag = await page.addStyleTag({ content: css });
        const r = matchBaseline(await page.screenshot({ fullPage: true }), join(BASELINES, 'fixture-en-1024.png'));
        assert.equal(r.match, false, `"${css}" must fail the comparison`);
        await tag.evaluate((el) => el.remove());
      }
      // And with the change removed it matches again.
      const r = matchBaseline(await page.screenshot({ fullPage: true }), join(BASELINES, 'fixture-en-1024.png'));
      assert.ok(r.match, r.reason);
    } finally {
      await context.close();
    }
  });

  test('no English in the Thai UI; the check finds the English UI', async () => {
    for (const width of [390, 1440]) {
      const { context, page } = await openFixture(chrome.browser, server.base, { width, lang: 'th' });
      try {
        for (const tab of ['collaborators', 'comments', 'history', 'conflicts']) {
          await page.click(`[data-testid=tab-${tab}]`);
          const leaks = englishLeaks(await visibleTexts(page), patterns, ALLOW);
          assert.deepEqual(leaks, [], `Thai UI at ${width} px, tab ${tab}`);
        }
      } finally {
        await context.close();
      }
    }
    // The sign-in page too.
    const signin = await chrome.browser.newContext({ viewport: { width: 390, height: HEIGHT } });
    try {
      const page = await signin.newPage();
      await page.goto(`${server.base}/?lang=th`);
      await page.getByText('เปิดคำสั่งซื้อในชื่อ').waitFor();
      assert.deepEqual(englishLeaks(await visibleTexts(page), patterns, ALLOW), [], 'Thai sign-in page');
    } finally {
      await signin.close();
    }
    // The same check on the English page must find plenty: it can fail.
    const { context, page } = await openFixture(chrome.browser, server.base, { width: 1024, lang: 'en' });
    try {
      const leaks = englishLeaks(await visibleTexts(page), patterns, ALLOW);
      assert.ok(leaks.length > 20, `the check finds the English UI (${leaks.length} findings)`);
    } finally {
      await context.close();
    }
  });

  test('axe: no serious or critical violations on the fixture, English and Thai', async () => {
    for (const lang of ['en', 'th']) {
      const { context, page } = await openFixture(chrome.browser, server.base, { width: 1024, lang });
      try {
        for (const tab of ['collaborators', 'comments', 'history']) {
          await page.click(`[data-testid=tab-${tab}]`);
          assert.deepEqual(await seriousViolations(page), [], `${lang}, tab ${tab}`);
        }
      } finally {
        await context.close();
      }
    }
  });
});

/** Records `n` activity entries on the order as another user, over a raw WebSocket. */
async function remoteActivity(base, n, order = '1001') {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?userId=chai&username=${encodeURIComponent('Chai Wongsa')}`);
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  const acks = new Set();
  ws.on('message', (d) => {
    try {
      const m = JSON.parse(String(d));
      if (m.messageId) acks.add(m.messageId);
      if (m.correlationId) acks.add(m.correlationId);
      if (m.replyTo) acks.add(m.replyTo);
    } catch {
      // not JSON: ignore
    }
  });
  try {
    for (let i = 0; i < n; i++) {
      ws.send(JSON.stringify({ type: 'activity', payload: { action: 'viewed', entity: { type: 'order', id: order, name: `Order #${order}` } }, timestamp: new Date().toISOString(), messageId: `chai-${i}` }));
      await sleep(60);
    }
    await sleep(300);
  } finally {
    ws.close();
  }
}

async function edit(page, path, value) {
  const f = page.locator(`[data-field="${path}"]`);
  await f.click();
  await f.fill(value);
  await f.blur();
}

describe('the UI live: two users editing one order', () => {
  let server;
  let chrome;
  let ann;
  let bob;
  let patterns;
  const notFound = [];

  before(async () => {
    server = await startServer();
    chrome = await launchBrowser();
    patterns = await englishPatterns();
    ann = await openAs(chrome.browser, server.base, { userId: 'ann', username: 'Ann Srisuk', order: '2001' });
    // Bob on a phone-sized page.
    const context = await chrome.browser.newContext({ viewport: { width: 390, height: 800 } });
    const page = await context.newPage();
    page.on('response', (r) => {
      if (r.status() === 404) notFound.push(r.url());
    });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.base}/?user=bob&name=${encodeURIComponent('Bob Chaiyo')}&order=2001&lang=en`);
    bob = { context, page, errors };
    for (const [who, p] of [['Ann', ann.page], ['Bob', bob.page]]) {
      await waitFor(async () => (await connectionState(p)) === 'open', { timeout: 20_000, what: `${who} connected` });
    }
    await ann.page.waitForSelector('[data-testid=presence-avatars] [data-user=bob]', { timeout: 15_000 });
    // Ann edits: she holds the lock, Bob sees the banner and the feed entry.
    await edit(ann.page, 'customer.name', 'Chiang Mai Foods Ltd.');
    await bob.page.locator('[data-testid=lock-banner]').waitFor({ timeout: 15_000 });
    await ann.page.click('[data-testid=tab-comments]');
    await ann.page.fill('[data-testid=comment-input]', 'Pay on delivery');
    await ann.page.click('[data-testid=comment-submit]');
  });
  after(async () => {
    await chrome?.close();
    await server?.stop();
  });

  test('the page loads at its top, no 404 (favicon included)', async () => {
    assert.equal(await bob.page.evaluate(() => window.scrollY), 0);
    const icon = await bob.page.evaluate(async () => (await fetch(document.querySelector('link[rel=icon]').href)).status);
    assert.equal(icon, 200);
    assert.deepEqual(notFound, []);
  });

  test("an edit reads as an edit of the field, with its old and new value, in the order's feed", async () => {
    const entry = bob.page.locator('[data-testid=activity-entry]', { hasText: 'changed Customer' }).first();
    await entry.waitFor({ timeout: 15_000 });
    assert.equal(await entry.getAttribute('data-action'), 'updated');
    const text = await entry.innerText();
    assert.match(text, /Ann Srisuk changed Customer/);
    assert.match(text, /Customer: .*Chiang Mai Foods Ltd\./s);
    // A second edit of the field: its old and its new value.
    await edit(ann.page, 'customer.name', 'Lanna Goods Co.');
    const second = bob.page.locator('[data-testid=activity-entry]', { hasText: 'Lanna Goods Co.' }).first();
    await second.waitFor({ timeout: 15_000 });
    assert.equal(await second.getAttribute('data-action'), 'updated');
    assert.match(await second.innerText(), /Ann Srisuk changed Customer[\s\S]*Customer: Chiang Mai Foods Ltd\.[\s\S]*Lanna Goods Co\./);
    // Another order's activity stays out of this order's feed.
    await remoteActivity(server.base, 1, '9999');
    await sleep(500);
    assert.equal(await bob.page.locator('[data-testid=activity-feed]', { hasText: '9999' }).count(), 0);
  });

  test('20 remote activity entries leave a scrolled-to field where it is, while typing', async () => {
    const field = bob.page.locator('[data-field="items.sauce.qty"]');
    await field.scrollIntoViewIfNeeded();
    await bob.page.evaluate(() => window.scrollBy(0, 40));
    await field.focus();
    const before = await bob.page.evaluate(() => ({ y: window.scrollY, top: document.querySelector('[data-field="items.sauce.qty"]').getBoundingClientRect().top }));
    assert.ok(before.y > 0, 'the page is scrolled');
    const count = () => bob.page.locator('[data-testid=activity-entry]', { hasText: 'Chai Wongsa' }).count();
    const seen = await count();
    await remoteActivity(server.base, 20, '2001');
    await waitFor(async () => (await count()) > seen, { what: "Chai's entries in Bob's feed" });
    await sleep(300);
    const afterPos = await bob.page.evaluate(() => ({ y: window.scrollY, top: document.querySelector('[data-field="items.sauce.qty"]').getBoundingClientRect().top }));
    assert.deepEqual(afterPos, before);
    assert.equal(await bob.page.evaluate(() => document.activeElement?.getAttribute('data-field')), 'items.sauce.qty', 'the field keeps the focus');
  });

  test('keyboard: the panel tabs, the comment form and the lock banner', async () => {
    const p = ann.page;
    await p.focus('[data-testid=tab-comments]');
    await p.keyboard.press('ArrowRight');
    assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'tab-history');
    assert.equal(await p.getAttribute('[data-testid=tab-history]', 'aria-selected'), 'true');
    await p.keyboard.press('Home');
    assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'tab-collaborators');
    await p.keyboard.press('ArrowRight');
    await p.keyboard.press('Tab'); // into the tab panel
    assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('role')), 'tabpanel');
    // The comment form: Tab to it, type, Ctrl+Enter sends.
    await p.focus('[data-testid=comment-input]');
    await p.keyboard.type('Checked by keyboard');
    await p.keyboard.press('Control+Enter');
    await bob.page.click('[data-testid=tab-comments]');
    await bob.page.locator('[data-testid=comment]', { hasText: 'Checked by keyboard' }).waitFor({ timeout: 10_000 });
    // The lock banner's button is reachable and works from the keyboard.
    await p.focus('[data-testid=finish-editing]');
    await p.keyboard.press('Enter');
    await bob.page.locator('[data-testid=lock-banner]').waitFor({ state: 'detached', timeout: 10_000 });
    // Ann takes it again for the rest of the suite.
    await edit(p, 'notes', 'Leave at the gate');
    await bob.page.locator('[data-testid=lock-banner]').waitFor({ timeout: 10_000 });
  });

  test('axe and the translation check, English then Thai, two users editing', async () => {
    for (const lang of ['en', 'th']) {
      if (lang === 'th') {
        for (const p of [ann.page, bob.page]) {
          await p.click('[data-testid=language]');
          await p.waitForFunction(() => document.documentElement.lang === 'th');
        }
      }
      for (const [who, p] of [['Ann', ann.page], ['Bob', bob.page]]) {
        for (const tab of ['collaborators', 'comments', 'history']) {
          await p.click(`[data-testid=tab-${tab}]`);
          assert.deepEqual(await seriousViolations(p), [], `axe, ${who}, ${lang}, tab ${tab}`);
          if (lang === 'th') {
            assert.deepEqual(englishLeaks(await visibleTexts(p), patterns, ALLOW), [], `English in ${who}'s Thai page, tab ${tab}`);
            const title = await p.title();
            assert.deepEqual(englishLeaks([{ text: title, tag: 'title' }], patterns, ALLOW), [], `the window title "${title}"`);
          }
        }
      }
    }
    await ann.page.screenshot({ path: join(artifactsDir(), 'ui-ann-thai.png'), fullPage: true });
    await bob.page.screenshot({ path: join(artifactsDir(), 'ui-bob-thai-390.png'), fullPage: true });
  });

  test('the language is kept across a reload (URL and storage)', async () => {
    assert.match(bob.page.url(), /lang=th/);
    await bob.page.reload();
    await bob.page.waitForFunction(() => document.documentElement.lang === 'th');
    // Without ?lang, the stored choice wins.
    const url = new URL(bob.page.url());
    url.searchParams.delete('lang');
    await bob.page.goto(url.href);
    await bob.page.waitForFunction(() => document.documentElement.lang === 'th');
    assert.match(await bob.page.locator('[data-testid=connection-status]').innerText(), /เชื่อมต่อ/);
    assert.deepEqual(bob.errors, []);
    assert.deepEqual(ann.errors, []);
  });
});
