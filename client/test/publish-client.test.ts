import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_FRAME_BYTES, PublishClient, PublishError } from '../src/server/index.js';

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

  it('makes a fresh key for an empty idempotencyKey, so that its retries broadcast once', async () => {
    const stub = stubFetch([{ status: 500, body: '{"message":"Internal Server Error"}' }, pending]);
    const client = new PublishClient({ endpoint: 'http://127.0.0.1:1/api', credentials: local, fetch: stub.fetch });
    await settle(() => client.publish({ tenant: 'acme', channel: 'order-updates', payload: 1, idempotencyKey: '' }));
    await settle(() => client.notify({ tenant: 'acme', title: 'Stock low', idempotencyKey: '' }));
    const keys = stub.bodies.map((b) => (JSON.parse(b) as { idempotencyKey: string }).idempotencyKey);
    expect(keys).toHaveLength(6);
    expect(keys.every((k) => k !== '')).toBe(true);
    expect(new Set(keys.slice(0, 3)).size).toBe(1);
    expect(new Set(keys.slice(3)).size).toBe(1);
    expect(keys[0]).not.toBe(keys[3]);
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

describe('PublishClient and oversized calls', () => {
  // API Gateway's answer to a body past the Lambda payload: the function never sees it.
  const gateway500 = { status: 500, body: '{"message":"Internal Server Error"}' };
  const big = 'x'.repeat(7 << 20);

  it('refuses a publish or notify whose frame is over 32 KB with FRAME_TOO_LARGE, not retryable, without sending it', async () => {
    const stub = stubFetch([gateway500]);
    const client = new PublishClient({ endpoint: 'http://127.0.0.1:1/api', credentials: local, fetch: stub.fetch, maxAttempts: 5 });
    const calls: [string, () => Promise<unknown>][] = [
      ['publish of 7 MB', () => client.publish({ tenant: 'acme', channel: 'order-updates', payload: { pdf: big } })],
      ['publish of 40 KB', () => client.publish({ tenant: 'acme', channel: 'order-updates', payload: big.slice(0, 40 << 10) })],
      ['a tenant of 5 MB', () => client.publish({ tenant: big.slice(0, 5 << 20), channel: 'order-updates', payload: 1 })],
      ['notify with 7 MB of data', () => client.notify({ tenant: 'acme', title: 'Invoice', data: { pdf: big } })],
      ['notify with a 40 KB body', () => client.notify({ tenant: 'acme', title: 'Invoice', body: big.slice(0, 40 << 10) })],
      ['a snapshot of a 5 MB room', () => client.presenceSnapshot({ tenant: 'acme', room: big.slice(0, 5 << 20) })],
    ];
    for (const [name, call] of calls) {
      const got = await settle(call);
      expect(got, name).toBeInstanceOf(PublishError);
      expect(got, name).toMatchObject({ status: 0, code: 'FRAME_TOO_LARGE', retryable: false });
      expect(stub.bodies, name).toHaveLength(0);
    }
  });

  it('counts the frame as the API builds it: the payload as sent, other strings as the API writes them again', async () => {
    const stub = stubFetch([{ status: 200, body: '{"recipients":0,"delivered":0}' }]);
    const client = new PublishClient({ endpoint: 'http://127.0.0.1:1/api', credentials: local, fetch: stub.fetch });
    const sent = async (call: () => Promise<unknown>): Promise<boolean> => {
      const before = stub.bodies.length;
      const got = await call().catch((e: unknown) => e);
      if (stub.bodies.length > before) return true;
      expect(got).toMatchObject({ status: 0, code: 'FRAME_TOO_LARGE', retryable: false });
      return false;
    };
    // A publish's payload is kept as the body has it: U+2028 one character of 3 bytes, a lone
    // surrogate as the 6 characters JSON.stringify writes.
    const odd = '\u2028\ud800é<&>';
    const publishFrame = `{"type":"publish","messageId":"k-1","channel":"order-updates","payload":["${odd.replace('\ud800', '\\ud800')}",""]}`;
    const fill = MAX_FRAME_BYTES - new TextEncoder().encode(publishFrame).length;
    const publish = (n: number) => () => client.publish({ tenant: 'acme', channel: 'order-updates', payload: [odd, 'x'.repeat(n)], idempotencyKey: 'k-1' });
    expect(await sent(publish(fill))).toBe(true);
    expect(await sent(publish(fill + 1))).toBe(false);
    // A notification's strings are written again by the API: U+2028 as \u2028 (6 bytes), a lone
    // surrogate as U+FFFD (3 bytes), a control character as \u0001; its fields in key order.
    const notifyFrame = `{"type":"notify","messageId":"k-2","payload":{"body":"","data":"","level":"","title":"\\u2028\uFFFD\\u0001é","userId":""}}`;
    const room = MAX_FRAME_BYTES - new TextEncoder().encode(notifyFrame).length;
    const notify = (n: number) => () => client.notify({ tenant: 'acme', title: '\u2028\ud800\u0001é', data: 'x'.repeat(n), idempotencyKey: 'k-2' });
    expect(await sent(notify(room))).toBe(true);
    expect(await sent(notify(room + 1))).toBe(false);
  });
});

describe('PublishClient region', () => {
  it('scopes the signature to the region of an execute-api endpoint unless region is given, else to us-east-1', async () => {
    const cases: [endpoint: string, region: string | undefined, want: string][] = [
      ['https://abc123.execute-api.eu-west-1.amazonaws.com', undefined, 'eu-west-1'],
      ['https://abc123.execute-api.cn-north-1.amazonaws.com.cn/', undefined, 'cn-north-1'],
      ['https://abc123-vpce-0a1b.execute-api.ap-south-1.vpce.amazonaws.com', undefined, 'ap-south-1'],
      ['https://abc123.execute-api.eu-west-1.amazonaws.com', 'eu-central-1', 'eu-central-1'],
      ['https://publish.example.com', undefined, 'us-east-1'],
      ['http://127.0.0.1:3001/api', undefined, 'us-east-1'],
      ['http://127.0.0.1:3001/api', 'eu-west-1', 'eu-west-1'],
    ];
    for (const [endpoint, region, want] of cases) {
      let auth = '';
      const fetchStub = (async (_url: URL | RequestInfo, init?: RequestInit) => {
        auth = (init?.headers as Record<string, string>)['authorization'] ?? '';
        return new Response('{"recipients":0,"delivered":0}', { status: 200, headers: { 'content-type': 'application/json' } });
      }) as typeof fetch;
      const client = new PublishClient({ endpoint, credentials: local, fetch: fetchStub, ...(region ? { region } : {}) });
      await client.publish({ tenant: 'acme', channel: 'order-updates', payload: 1 });
      expect(auth, `${endpoint} with region ${region}`).toContain(`/${want}/execute-api/aws4_request`);
    }
  });
});
