import { afterEach, describe, expect, it, vi } from 'vitest';
import { PublishClient, PublishError } from '../src/server/index.js';

// The server entry against a stand-in for the publish API: a fetch that
// answers each call in turn and records the bodies it was sent.
const local = { accessKeyId: 'local', secretAccessKey: 'local' };

function stubFetch(answers: { status: number; body: string }[]): { fetch: typeof fetch; bodies: string[] } {
  const bodies: string[] = [];
  const fetchStub = (async (_url: URL | RequestInfo, init?: RequestInit) => {
    bodies.push(String(init?.body));
    const a = answers[Math.min(bodies.length, answers.length) - 1]!;
    return new Response(a.body, { status: a.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return { fetch: fetchStub, bodies };
}

/** Runs `call` to its end, the backoff timers included, without waiting for them. */
async function settle<T>(call: () => Promise<T>): Promise<T | unknown> {
  vi.useFakeTimers();
  const p = call().catch((e: unknown) => e);
  await vi.runAllTimersAsync();
  return p;
}

afterEach(() => {
  vi.useRealTimers();
});

const pending = { status: 200, body: '{"duplicate":true,"pending":true}' };

describe('PublishClient and pending duplicates', () => {
  it('retries a pending duplicate and then rejects with a retryable UNAVAILABLE, never a success', async () => {
    const stub = stubFetch([{ status: 500, body: '{"message":"Internal Server Error"}' }, pending]);
    const client = new PublishClient({ endpoint: 'http://127.0.0.1:1/api', credentials: local, fetch: stub.fetch });
    const got = await settle(() => client.publish({ tenant: 'acme', channel: 'order-updates', payload: { orderId: 'SO-1' } }));
    expect(got).toBeInstanceOf(PublishError);
    expect(got).toMatchObject({ status: 200, code: 'UNAVAILABLE', retryable: true });
    expect(stub.bodies).toHaveLength(3);
    const keys = stub.bodies.map((b) => (JSON.parse(b) as { idempotencyKey: string }).idempotencyKey);
    expect(new Set(keys).size).toBe(1);
  });

  it('returns the answer of a retry that completes, without the pending mark before it', async () => {
    const done = { status: 200, body: '{"id":"ntf-1","recipients":2,"delivered":2,"duplicate":true}' };
    const stub = stubFetch([pending, done]);
    const client = new PublishClient({ endpoint: 'http://127.0.0.1:1/api', credentials: local, fetch: stub.fetch });
    const got = await settle(() => client.notify({ tenant: 'acme', title: 'Stock low', idempotencyKey: 'stock-low-1' }));
    expect(got).toEqual({ id: 'ntf-1', recipients: 2, delivered: 2, duplicate: true });
    expect(stub.bodies).toHaveLength(2);
  });
});

describe('PublishClient encoding', () => {
  it('sends markup as it is (JSON.stringify escapes no <, > or &), so the body does not grow past the API limit', async () => {
    const stub = stubFetch([{ status: 200, body: '{"channel":"order-updates","recipients":0,"delivered":0}' }]);
    const client = new PublishClient({ endpoint: 'http://127.0.0.1:1/api', credentials: local, fetch: stub.fetch });
    const html = '<b>&</b>'.repeat(100);
    await client.publish({ tenant: 'acme', channel: 'order-updates', payload: { html } });
    expect(stub.bodies[0]).toContain(html);
  });
});
