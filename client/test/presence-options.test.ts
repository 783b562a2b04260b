import { describe, expect, it, vi } from 'vitest';
import { PresenceManager, RealtimeError, WebSocketClient } from '../src/index.js';
import { presenceOptionsError } from '../src/presence.js';
import { FakeServer, FakeWebSocket } from './fake-websocket.js';

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

/**
 * A connected client whose server acks every room.join and presence frame,
 * for tests of what the manager sends. Call it with fake timers on.
 */
async function connected(): Promise<{ server: FakeServer; live: WebSocketClient }> {
  FakeWebSocket.reset();
  const server: FakeServer = new FakeServer({
    handler: (sock, f) => {
      if (f.type === 'room.join') {
        const room = (f.payload as { room: string }).room;
        server.ack(sock, f, { room, usersInRoom: [], userCount: 0, onlineCount: 0, awayCount: 0 });
        return true;
      }
      if (f.type !== 'presence') return false;
      const presence = { userId: 'u1', username: 'Ann', status: 'online', lastSeen: '', currentLocation: { page: '' } };
      server.ack(sock, f, { presence, rooms: [] });
      return true;
    },
  });
  const live = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0, rateLimit: false });
  live.connect();
  FakeWebSocket.last.open();
  await vi.advanceTimersByTimeAsync(0);
  return { server, live };
}

// The server refuses (BAD_REQUEST) a presence or room.join frame whose
// avatar holds a character it does not show (internal/ident Visible): the
// manager, which puts its avatar in every such frame, refuses it when it is
// set instead.
describe('presence avatar characters', () => {
  const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0 });
  const invisible: [string, string][] = [
    ['a control (NUL)', '\u0000'],
    ['a control (line feed)', '\n'],
    ['a control (DEL)', '\u007F'],
    ['a zero-width space (Cf)', '\u200B'],
    ['a bidirectional override (Cf)', '\u202E'],
    ['a private-use code point (Co)', '\uE000'],
    ['a supplementary private-use code point (Co)', '\u{F0000}'],
    ['a lone surrogate (Cs)', '\uD800'],
    ['a line separator (Zl)', '\u2028'],
    ['a paragraph separator (Zp)', '\u2029'],
    ['a noncharacter (U+FDD0)', '\uFDD0'],
    ['a noncharacter (U+FFFE)', '\uFFFE'],
    ['a noncharacter (U+1FFFF)', '\u{1FFFF}'],
    ['a variation selector (default-ignorable)', '\uFE0F'],
    ['a supplementary variation selector (default-ignorable)', '\u{E0100}'],
    ['the combining grapheme joiner (default-ignorable)', '\u034F'],
    ['a Hangul filler (default-ignorable)', '\u3164'],
    ['the braille blank', '\u2800'],
    ['the replacement character (what an invalid byte becomes)', '\uFFFD'],
  ];
  for (const [what, ch] of invisible) {
    it(`refuses an avatar holding ${what} with BAD_REQUEST, not retryable`, () => {
      const avatar = `https://cdn.example/a${ch}b.png`;
      const err = presenceOptionsError({ avatar });
      expect(err).toBeInstanceOf(RealtimeError);
      expect(err).toMatchObject({ code: 'BAD_REQUEST', retryable: false, details: { field: 'avatar' } });
      expect(() => new PresenceManager({ client, trackActivity: false, avatar })).toThrow(RealtimeError);
    });
  }
  // A variation selector right after a base it varies is kept by the
  // server's cleaning, so such an avatar is taken; one elsewhere is not.
  for (const avatar of ['\u2764\uFE0F', 'https://cdn.example/1\uFE0F\u20E3.png', '\u845B\u{E0100}', '\u1820\u180B']) {
    it(`takes the avatar ${JSON.stringify(avatar)}, a variation sequence`, () => {
      expect(presenceOptionsError({ avatar })).toBeNull();
    });
  }
  for (const avatar of ['\uFE0F\u2764', '\u2764\uFE0F\uFE0F', 'a\u{E0100}', 'a\u180B']) {
    it(`refuses the avatar ${JSON.stringify(avatar)}, a variation selector after no base it varies`, () => {
      expect(presenceOptionsError({ avatar })).toMatchObject({ code: 'BAD_REQUEST', details: { field: 'avatar' } });
    });
  }
  for (const avatar of ['https://cdn.example/ann.png', 'https://cdn.example/ä ñ 漢字 😀.png', '']) {
    it(`takes the avatar ${JSON.stringify(avatar)}`, () => {
      expect(presenceOptionsError({ avatar })).toBeNull();
    });
  }

  it("refuses such an avatar in joinRoom's options: nothing is sent, and the avatar set before stays", async () => {
    vi.useFakeTimers();
    try {
      const { server, live } = await connected();
      const manager = new PresenceManager({ client: live, trackActivity: false, refreshInterval: 0, avatar: 'ann.png' });
      manager.start();
      await vi.advanceTimersByTimeAsync(0);
      const { ready } = manager.joinRoom('order-1', { avatar: 'ann\u200B.png' });
      await expect(ready).rejects.toMatchObject({ code: 'BAD_REQUEST', retryable: false, details: { field: 'avatar' } });
      await vi.advanceTimersByTimeAsync(0);
      expect(server.framesOfType('room.join')).toHaveLength(0);
      await manager.joinRoom('order-2').ready;
      expect(server.framesOfType('room.join').map((f) => (f.payload as { avatar?: string }).avatar)).toEqual(['ann.png']);
      manager.destroy();
      live.destroy();
    } finally {
      vi.useRealTimers();
    }
  });
});

// The server holds a presence frame's activity and the location's page and
// section to the avatar's rule (BAD_REQUEST for a character it does not
// show): the manager refuses them where it checks their length, before
// anything is sent.
describe('presence activity and location characters', () => {
  const client = new WebSocketClient({ url: 'ws://t.invalid/ws', WebSocketImpl: FakeWebSocket, heartbeatInterval: 0 });
  const invisible: [string, string][] = [
    ['a control (NUL)', '\u0000'],
    ['a bidirectional override (Cf)', '\u202E'],
    ['a bidirectional isolate (Cf)', '\u2067'],
    ['a zero-width space (Cf)', '\u200B'],
    ['a byte order mark (Cf)', '\uFEFF'],
    ['a line separator (Zl)', '\u2028'],
    ['a variation selector after a letter', '\uFE0F'],
    ['the replacement character', '\uFFFD'],
  ];
  const options = [
    ['activity', 'initialActivity'],
    ['page', 'initialPage'],
    ['section', 'initialSection'],
  ] as const;
  for (const [what, ch] of invisible) {
    for (const [field, option] of options) {
      it(`refuses a ${field} holding ${what} with BAD_REQUEST, not retryable`, () => {
        const text = `editing${ch} order 1`;
        expect(presenceOptionsError({ [option]: text })).toMatchObject({ code: 'BAD_REQUEST', retryable: false, details: { field } });
        expect(() => new PresenceManager({ client, trackActivity: false, [option]: text })).toThrow(RealtimeError);
      });
    }
  }
  for (const text of ['Édition de la commande n°\u00A0123 \u2764\uFE0F 编辑', 'Détail 1\uFE0F\u20E3', '']) {
    it(`takes the activity, page and section ${JSON.stringify(text)}`, () => {
      expect(presenceOptionsError({ initialActivity: text, initialPage: text, initialSection: text })).toBeNull();
    });
  }

  // The joiners and tags human writing needs between visible characters are
  // taken, as the server takes them (internal/ident Clean): an emoji ZWJ
  // sequence, Persian with its ZWNJ, a subdivision flag.
  const scotland = '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}';
  for (const text of [
    'Coding \u{1F469}\u200D\u{1F4BB}',
    '\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645',
    '\u2764\uFE0F\u200D\u{1F525}',
    `${scotland} fans`,
    '\u0915\u094D\u200D\u0937',
    '\u{1F44B}\u{1F3FD}\u200D\u2642\uFE0F',
  ]) {
    it(`takes the activity, page and section ${JSON.stringify(text)}`, () => {
      expect(presenceOptionsError({ initialActivity: text, initialPage: text, initialSection: text })).toBeNull();
    });
  }
  const misplaced: [string, string, string][] = [
    ['a leading joiner', '\u200DCoding', 'U+200D'],
    ['a trailing non-joiner', 'Coding\u200C', 'U+200C'],
    ['a repeated joiner', 'a\u200D\u200Db', 'U+200D'],
    ['a joiner before a zero-width space', 'a\u200D\u200Bb', 'U+200D'],
    ['a joiner between Latin letters', 'Al\u200Dice', 'U+200D'],
    ['a non-joiner between Cyrillic letters', '\u0434\u200C\u0436', 'U+200C'],
    ['a joiner between a letter and a pictograph', 'a\u200D\u{1F4BB}', 'U+200D'],
    ['tags after no flag', 'a\u{E0067}\u{E007F}', 'U+E0067'],
    ['a tag sequence not ended by U+E007F', '\u{1F3F4}\u{E0067} fans', 'U+E0067'],
    ['a flag with no tag before its end', '\u{1F3F4}\u{E007F}', 'U+E007F'],
  ];
  for (const [what, text, codePoint] of misplaced) {
    it(`refuses an activity holding ${what}`, () => {
      expect(presenceOptionsError({ initialActivity: text })).toMatchObject({ code: 'BAD_REQUEST', details: { field: 'activity', codePoint } });
    });
  }

  it('refuses such texts in setActivity, setLocation and joinRoom: nothing is sent, and what was set before stays', async () => {
    vi.useFakeTimers();
    try {
      const { server, live } = await connected();
      const manager = new PresenceManager({ client: live, trackActivity: false, refreshInterval: 0, initialPage: 'orders', initialActivity: 'viewing' });
      manager.start();
      await vi.advanceTimersByTimeAsync(0);
      const sent = () => server.framesOfType('presence').length + server.framesOfType('room.join').length;
      const before = sent();
      expect(() => manager.setActivity('editing\u202E order 1')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', details: expect.objectContaining({ field: 'activity' }) }));
      expect(() => manager.setLocation('orders\u200B')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', details: expect.objectContaining({ field: 'page' }) }));
      expect(() => manager.setLocation('orders', 'detail\u0000')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', details: expect.objectContaining({ field: 'section' }) }));
      const { ready } = manager.joinRoom('order-1', { location: { page: 'orders', section: 'd\u2066' } });
      await expect(ready).rejects.toMatchObject({ code: 'BAD_REQUEST', retryable: false, details: { field: 'section' } });
      await vi.advanceTimersByTimeAsync(0);
      expect(sent()).toBe(before);
      await manager.joinRoom('order-2').ready;
      const join = server.framesOfType('room.join').at(-1)?.payload as { activity?: string; location?: { page: string } };
      expect(join.activity).toBe('viewing');
      expect(join.location?.page).toBe('orders');
      manager.destroy();
      live.destroy();
    } finally {
      vi.useRealTimers();
    }
  });
});
