import { describe, expect, expectTypeOf, it } from 'vitest';
import type NodeWebSocket from 'ws';
import { RealtimeSyncManager } from '../src/index.js';
import type {
  AckPayload,
  HelloAck,
  PublishAck,
  SubscribeAck,
  WebSocketClient,
  WebSocketConstructor,
  WebSocketMessage,
} from '../src/index.js';

describe('public types', () => {
  it('accepts the browser WebSocket and the ws package as WebSocketImpl', () => {
    expectTypeOf<typeof WebSocket>().toExtend<WebSocketConstructor>();
    expectTypeOf<typeof NodeWebSocket>().toExtend<WebSocketConstructor>();
  });

  it('types ack payloads by request type', () => {
    expectTypeOf<AckPayload<'hello'>>().toEqualTypeOf<HelloAck>();
    expectTypeOf<AckPayload<'publish'>>().toEqualTypeOf<PublishAck>();
    expectTypeOf<AckPayload<'change'>>().toEqualTypeOf<unknown>();
    expectTypeOf<ReturnType<WebSocketClient['subscribe']>>().toEqualTypeOf<Promise<SubscribeAck>>();
    type HelloResult = Awaited<ReturnType<typeof helloOf>>;
    expectTypeOf<HelloResult>().toEqualTypeOf<HelloAck>();
  });

  it("keeps the React hooks' helper for telling a lock a write took out of RealtimeSyncManager's API", () => {
    expectTypeOf<RealtimeSyncManager>().not.toHaveProperty('lockTakenByWrite');
    expect('lockTakenByWrite' in RealtimeSyncManager.prototype).toBe(false);
  });

  it('keeps payloads unknown unless narrowed', () => {
    expectTypeOf<WebSocketMessage['payload']>().toEqualTypeOf<unknown>();
    expectTypeOf<WebSocketMessage<{ a: number }>['payload']>().toEqualTypeOf<{ a: number } | undefined>();
  });
});

function helloOf(c: WebSocketClient): Promise<HelloAck> {
  return c.request('hello');
}
