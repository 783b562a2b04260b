import { describe, expect, it } from 'vitest';
import { PresenceManager, RealtimeError, WebSocketClient } from '../src/index.js';
import { presenceOptionsError } from '../src/presence.js';
import { FakeWebSocket } from './fake-websocket.js';

// Delay options of the PresenceManager: NaN made a timer fire at once (a
// snapshot refresh loop, away at once, no cursor hold-back), a negative one
// means nothing, and a string was compared as text.

describe('presence delay options', () => {
  const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0 });
  for (const field of ['awayTimeout', 'cursorThrottle', 'refreshInterval'] as const) {
    for (const bad of [Number.NaN, -1, -Infinity, '1000' as unknown as number]) {
      it(`refuses ${field}: ${String(bad)} (${typeof bad}) with BAD_REQUEST`, () => {
        const err = presenceOptionsError({ [field]: bad });
        expect(err).toBeInstanceOf(RealtimeError);
        expect(err?.code).toBe('BAD_REQUEST');
        expect(err?.message).toContain(field);
        expect(() => new PresenceManager({ client, trackActivity: false, [field]: bad })).toThrow(field);
      });
    }
    for (const ok of [0, 1, 2 ** 40, Infinity]) {
      it(`takes ${field}: ${ok}`, () => {
        expect(presenceOptionsError({ [field]: ok })).toBeNull();
        expect(() => new PresenceManager({ client, trackActivity: false, [field]: ok }).destroy()).not.toThrow();
      });
    }
  }
});
