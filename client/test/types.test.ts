import { describe, expectTypeOf, it } from 'vitest';
import type NodeWebSocket from 'ws';
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

  it('keeps payloads unknown unless narrowed', () => {
    expectTypeOf<WebSocketMessage['payload']>().toEqualTypeOf<unknown>();
    expectTypeOf<WebSocketMessage<{ a: number }>['payload']>().toEqualTypeOf<{ a: number } | undefined>();
  });
});

function helloOf(c: WebSocketClient): Promise<HelloAck> {
  return c.request('hello');
}
