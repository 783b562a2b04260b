/// <reference types="node" />
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer, type LocalServer } from './server.js';

// The Node.js example of README.md, run as written in its own Node.js
// process: it imports the package by its name, which resolves to the built
// dist/ through the package's self-reference (make test-client-server
// builds it first), and `ws` from node_modules.
const clientDir = resolve(__dirname, '..');

/** The one ```js block of README.md's "## Node.js" section. */
function nodeExample(): string {
  const readme = readFileSync(resolve(clientDir, 'README.md'), 'utf8');
  const section = /^## Node\.js\n([\s\S]*?)(?=^## )/m.exec(readme);
  if (section === null) throw new Error('README.md has no "## Node.js" section');
  const blocks = [...(section[1] ?? '').matchAll(/^```js\n([\s\S]*?)^```$/gm)];
  if (blocks.length !== 1) throw new Error(`README.md "## Node.js": ${blocks.length} js blocks, want 1`);
  return blocks[0]?.[1] ?? '';
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs an ES module in a new Node.js process from client/, killed after timeoutMs. */
function runModule(source: string, env: Record<string, string>, timeoutMs: number): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
      cwd: clientDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr });
    });
  });
}

describe('README Node.js example', () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await startLocalServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('publishes, receives its own update and exits by itself', async () => {
    if (!existsSync(resolve(clientDir, 'dist', 'index.js'))) {
      throw new Error('client/dist is not built: run `npm run build` (make test-client-server does)');
    }
    const source = nodeExample();
    expect(source).toContain('WebSocketImpl: WebSocket');
    const run = await runModule(
      source,
      { RTCOLLAB_URL: `${server.wsUrl}?userId=node-example&username=Node` },
      15_000,
    );
    const what = `exit ${run.code} signal ${run.signal}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
    expect(run.signal, what).toBeNull();
    expect(run.code, what).toBe(0);
    // The server posts the update before it answers the publish; the
    // check does not depend on that order.
    expect(run.stdout.trimEnd().split('\n').sort(), what).toEqual([
      'published to 1 subscriber(s), 1 delivered',
      'update {"orderId":"123","status":"shipped"}',
    ]);
  });
});
