// Shared pieces of the browser suites: the local server binary on a free
// port, Debian's chromium through playwright-core, and small waits.
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { request } from 'node:http';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');

export const LOCALSERVER_BIN = process.env.LOCALSERVER_BIN ?? join(root, 'bin', 'localserver');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const DEMO_DIR = process.env.DEMO_DIR ?? join(root, 'client', 'demo', 'dist');
export const ARTIFACTS_DIR = process.env.ARTIFACTS_DIR ?? join(root, 'test-artifacts', 'browser');

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or `timeout` ms pass. */
export async function waitFor(fn, { timeout = 15_000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(interval);
  }
}

/**
 * Starts the local server binary with -dev on `port` (a free one by
 * default), serving the demo. Resolves once the demo page answers.
 */
export async function startServer({ port, env = {}, args = [] } = {}) {
  const p = port ?? (await freePort());
  const child = spawn(LOCALSERVER_BIN, ['-dev', '-static', DEMO_DIR, '-sweep', '5s', ...args], {
    // REGION unless a test says otherwise: the region the server checks signatures for
    // (AWS_REGION), which managementRequest signs for.
    env: { ...process.env, AWS_REGION: REGION, PORT: String(p), LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const base = `http://127.0.0.1:${p}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`server exited: ${log}`);
        const r = await fetch(`${base}/`);
        return r.ok;
      },
      { timeout: 20_000, what: 'the local server' },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${log}`);
  }
  return {
    port: p,
    base,
    log: () => log,
    /** Stops the server gracefully (SIGTERM) and waits for it to exit. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
    /** Cuts one connection through the (signed) Management API. */
    async cut(connectionId) {
      const status = await managementRequest(p, 'DELETE', `/ws/@connections/${encodeURIComponent(connectionId)}`);
      if ((status < 200 || status > 299) && status !== 410) throw new Error(`DELETE connection: ${status}`);
    },
  };
}

// The fixed credentials the local Management API accepts (see
// internal/gateway: LocalAccessKeyID, LocalSecretAccessKey).
const LOCAL_ACCESS_KEY_ID = 'local';
const LOCAL_SECRET_ACCESS_KEY = 'local';
/** The region of the servers startServer starts, which their signatures must be scoped to. */
const REGION = 'us-east-1';

const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const hmac = (key, s) => createHmac('sha256', key).update(s).digest();
// RFC 3986 unreserved characters stay; everything else is %XX, as SigV4's
// canonical URI wants (each segment of the already escaped path, again).
const uriEncode = (s) =>
  Array.from(new TextEncoder().encode(s), (b) =>
    /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
  ).join('');

/**
 * Sends one Management API request with an empty body to the server on
 * `port`, signed with Signature Version 4 (service execute-api) and the
 * local credentials, through node:http: fetch would add the Sec-Fetch-*
 * headers the local gateway refuses as browser-originated. Resolves with
 * the status.
 */
export function managementRequest(port, method, path) {
  const host = `127.0.0.1:${port}`;
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const region = REGION;
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const canonicalURI = path.split('/').map(uriEncode).join('/');
  const signedHeaders = 'host;x-amz-date';
  const canonical = [method, canonicalURI, '', `host:${host}\nx-amz-date:${amzDate}\n`, signedHeaders, sha256('')].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let key = hmac(`AWS4${LOCAL_SECRET_ACCESS_KEY}`, day);
  for (const part of [region, 'execute-api', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  const headers = {
    host,
    'x-amz-date': amzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_ACCESS_KEY_ID}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (resp) => {
      resp.resume();
      resp.on('end', () => res(resp.statusCode));
    });
    req.on('error', rej);
    req.end();
  });
}

/** Launches Debian's chromium (never a downloaded browser) with a fresh profile. */
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'rtcollab-chromium-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
      `--disk-cache-dir=${join(profile, 'cache')}`,
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function artifactsDir() {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return ARTIFACTS_DIR;
}

/** Opens the demo as one user in a new context. */
export async function openAs(browser, base, { userId, username, order = '1001', lang = 'en' }) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/?user=${userId}&name=${encodeURIComponent(username)}&order=${order}&lang=${lang}`);
  return { context, page, errors };
}

export async function connectionState(page) {
  return page.getAttribute('[data-testid=connection-status]', 'data-status');
}

export async function connectionId(page) {
  return page.getAttribute('[data-testid=connection-status]', 'data-connection-id');
}

export async function fieldValue(page, path) {
  return page.inputValue(`[data-field="${path}"]`);
}
