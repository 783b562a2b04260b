/// <reference types="node" />
import { act } from '@testing-library/react';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import WebSocket from 'ws';
import { createWebSocketClient, type WebSocketClient } from '../src/index.js';

/** The local server binary, started with -dev on a free port (PORT selects it). */
export interface LocalServer {
  port: number;
  wsUrl: string;
  stop(): Promise<void>;
}

const BIN = process.env['LOCALSERVER_BIN'] ?? resolve(__dirname, '..', '..', 'bin', 'localserver');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      res(true);
    });
    sock.once('error', () => res(false));
  });
}

/** Extra settings of a local server under test. */
export interface LocalServerOptions {
  /** Environment added to the server's, e.g. JWT_SECRET to accept HS256 tokens. */
  env?: Record<string, string>;
  /** Flags added after the defaults (-dev -static ''), e.g. ['-sweep', '1s']. */
  args?: string[];
}

export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(BIN, ['-dev', '-static', '', ...(options.args ?? [])], {
    // us-east-1 unless a test says otherwise: the region the server checks signatures for
    // (AWS_REGION), which the signers of these tests default to.
    env: { ...process.env, AWS_REGION: 'us-east-1', ...options.env, PORT: String(port), LOG_LEVEL: process.env['SERVER_LOG_LEVEL'] ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const end = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`local server exited:\n${log}`);
    // Listening: the server is up (it listens once the handlers are built).
    if (await canConnect(port)) break;
    {
      if (Date.now() > end) {
        child.kill('SIGKILL');
        throw new Error(`local server did not start:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    async stop() {
      if (process.env['SERVER_LOG_LEVEL']) console.log(log);
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Polls until `fn` is truthy, letting React render (inside act) between
 * polls, and returns that value (so never null or undefined).
 */
export async function until<T>(fn: () => T, timeout = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + timeout;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await act(async () => {
      await new Promise((r) => setTimeout(r, 25));
    });
  }
}

/**
 * A client of `server` connecting as the development user `userId`, without
 * the client-side rate limit; pushed to `into` for the test to destroy.
 */
export function devClient(server: LocalServer, userId: string, into: WebSocketClient[]): WebSocketClient {
  const c = createWebSocketClient({
    url: `${server.wsUrl}?userId=${encodeURIComponent(userId)}`,
    WebSocketImpl: WebSocket,
    reconnectInterval: 100,
    maxReconnectInterval: 500,
    rateLimit: false,
  });
  into.push(c);
  c.connect();
  return c;
}
