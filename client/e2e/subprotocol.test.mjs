// Handshakes through the SDK in Chromium: the SDK offers subprotocols (and,
// by default, the token as a bearer.<token> subprotocol), the server
// selects the real one, and the browser completes the handshake. The token
// in the subprotocol authenticates exactly as ?token= does.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { launchBrowser, startServer } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SECRET = 'an-hs256-secret-of-at-least-32-bytes-for-e2e';

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function hs256(claims) {
  const signed = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${signed}.${createHmac('sha256', SECRET).update(signed).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

describe('subprotocols and tokens through the SDK in Chromium', () => {
  let server;
  let chrome;
  let page;
  let dir;

  before(async () => {
    // A page of this server with the SDK bundled from source.
    dir = mkdtempSync(join(tmpdir(), 'rtcollab-subprotocol-'));
    await build({
      entryPoints: [join(here, '..', 'src', 'index.ts')],
      outfile: join(dir, 'sdk.js'),
      bundle: true,
      format: 'esm',
      target: 'es2022',
      logLevel: 'warning',
    });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>sdk</title>');
    server = await startServer({ args: ['-static', dir], env: { JWT_SECRET: SECRET } });
    chrome = await launchBrowser();
    page = await chrome.browser.newPage();
    await page.goto(`${server.base}/`);
  });

  after(async () => {
    await chrome?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Connects from the page with the SDK and reports how the handshake went:
   * the URL and subprotocols the browser used, the subprotocol the server
   * selected, and the identity of the hello ack (or the close code).
   */
  async function connect(options) {
    return page.evaluate(async ({ base, options }) => {
      const sdk = await import(`${base}/sdk.js`);
      const seen = {};
      class Recording extends WebSocket {
        constructor(url, protocols) {
          super(url, protocols);
          seen.url = url;
          seen.offered = protocols ?? null;
          this.addEventListener('open', () => (seen.selected = this.protocol));
        }
      }
      const client = new sdk.WebSocketClient({ ...options, WebSocketImpl: Recording, reconnect: false, heartbeatInterval: 0 });
      const outcome = await new Promise((resolve) => {
        client.on('hello', (ack) => resolve({ userId: ack.userId, tenant: ack.tenant }));
        client.on('close', (ev) => resolve({ closed: ev.code }));
        client.connect();
      });
      client.destroy();
      return { ...seen, ...outcome };
    }, { base: server.base, options: { ...options, url: options.url.replace('BASE', server.base.replace('http', 'ws')) } });
  }

  test('a subprotocol without a token: the server selects it', async () => {
    const r = await connect({ url: 'BASE/ws?userId=ann&tenant=t1', protocols: ['rtcollab.v1'] });
    assert.equal(r.selected, 'rtcollab.v1');
    assert.deepEqual(r.offered, ['rtcollab.v1']);
    assert.equal(r.userId, 'ann');
  });

  test('no subprotocol at all still connects', async () => {
    const r = await connect({ url: 'BASE/ws?userId=ann' });
    assert.equal(r.selected, '');
    assert.equal(r.userId, 'ann');
  });

  test('the token travels as bearer.<token> beside the subprotocol and authenticates as ?token= does', async () => {
    const token = hs256({ sub: 'alice', tenant: 'acme', exp: now() + 3600 });
    const viaProtocol = await connect({ url: `BASE/ws?token=${token}`, protocols: 'app.v2' });
    assert.equal(viaProtocol.selected, 'app.v2', 'the server never selects the token protocol');
    assert.deepEqual(viaProtocol.offered, ['app.v2', `bearer.${token}`]);
    assert.ok(!viaProtocol.url.includes(token), 'the token left the URL');
    assert.deepEqual({ userId: viaProtocol.userId, tenant: viaProtocol.tenant }, { userId: 'alice', tenant: 'acme' });

    const byDefault = await connect({ url: `BASE/ws?token=${token}` });
    assert.equal(byDefault.selected, 'rtcollab.v1');

    const viaQuery = await connect({ url: `BASE/ws?token=${token}`, tokenTransport: 'query' });
    assert.ok(viaQuery.url.includes(`token=${token}`));
    assert.deepEqual({ userId: viaQuery.userId, tenant: viaQuery.tenant }, { userId: 'alice', tenant: 'acme' });
  });

  test('bad tokens are refused the same way in either carrier', async () => {
    const bad = {
      expired: hs256({ sub: 'alice', tenant: 'acme', exp: now() - 3600 }),
      tampered: hs256({ sub: 'alice', exp: now() + 3600 }).slice(0, -2) + 'xx',
    };
    for (const [name, token] of Object.entries(bad)) {
      // A token wins over the development identity in the query string.
      const viaProtocol = await connect({ url: `BASE/ws?userId=admin&roles=admin&token=${token}` });
      const viaQuery = await connect({ url: `BASE/ws?userId=admin&roles=admin&token=${token}`, tokenTransport: 'query' });
      assert.equal(viaProtocol.userId, undefined, `${name} via subprotocol connected`);
      assert.equal(viaQuery.userId, undefined, `${name} via ?token= connected`);
      assert.equal(viaProtocol.closed, viaQuery.closed, `${name}: same refusal`);
    }
  });
});
