import type { WebSocketLike } from '../src/websocket-client.js';
import type { WebSocketMessage } from '../src/types.js';

type Handler<E> = ((event: E) => void) | null;

export interface SentFrame {
  type: string;
  channel?: string;
  payload?: unknown;
  timestamp: string;
  messageId: string;
}

/**
 * An in-memory WebSocket driven by the test: `open()`, `receive()`,
 * `serverClose()`. Frames the client sends are kept in `sent` and handed to
 * `FakeWebSocket.onSend` (the fake server), if set.
 */
export class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  static onSend: ((sock: FakeWebSocket, frame: SentFrame) => void) | null = null;

  static reset(): void {
    FakeWebSocket.instances = [];
    FakeWebSocket.onSend = null;
  }

  static get last(): FakeWebSocket {
    const s = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (s === undefined) throw new Error('no socket was created');
    return s;
  }

  readyState = 0;
  onopen: Handler<unknown> = null;
  onmessage: Handler<{ data: unknown }> = null;
  onclose: Handler<{ code: number; reason: string; wasClean: boolean }> = null;
  onerror: Handler<unknown> = null;
  readonly sent: string[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeWebSocket.instances.push(this);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
    this.sent.push(data);
    FakeWebSocket.onSend?.(this, JSON.parse(data) as SentFrame);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // ---- test controls ----

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(message: Partial<WebSocketMessage> & { type: string }): void {
    this.onmessage?.({ data: JSON.stringify({ timestamp: new Date().toISOString(), messageId: `s-${Math.random()}`, ...message }) });
  }

  receiveRaw(data: unknown): void {
    this.onmessage?.({ data });
  }

  serverClose(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: code === 1000 });
  }

  fail(): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: '', wasClean: false });
  }

  /** The parsed frames this socket sent. */
  get frames(): SentFrame[] {
    return this.sent.map((s) => JSON.parse(s) as SentFrame);
  }

  framesOfType(type: string): SentFrame[] {
    return this.frames.filter((f) => f.type === type);
  }
}

export interface ServerOptions {
  /** Request types answered automatically with an ack (pong for ping). */
  autoAck?: Iterable<string>;
  /** Called for every frame; return true when it was answered. */
  handler?: (sock: FakeWebSocket, frame: SentFrame) => boolean | void;
}

/**
 * A fake server on top of FakeWebSocket: it records every frame and
 * answers (asynchronously, as a network would) the types in `autoAck`.
 */
export class FakeServer {
  readonly received: { sock: FakeWebSocket; frame: SentFrame }[] = [];
  autoAck: Set<string>;
  handler: ServerOptions['handler'];

  constructor(options: ServerOptions = {}) {
    this.autoAck = new Set(options.autoAck ?? ['hello', 'subscribe', 'unsubscribe', 'ping']);
    this.handler = options.handler;
    FakeWebSocket.onSend = (sock, frame) => this.onFrame(sock, frame);
  }

  private onFrame(sock: FakeWebSocket, frame: SentFrame): void {
    this.received.push({ sock, frame });
    if (this.handler?.(sock, frame) === true) return;
    if (!this.autoAck.has(frame.type)) return;
    this.ack(sock, frame, defaultAck(frame));
  }

  ack(sock: FakeWebSocket, frame: SentFrame, payload: unknown = {}): void {
    queueMicrotask(() => {
      if (sock.readyState !== 1) return;
      sock.receive({
        type: frame.type === 'ping' ? 'pong' : 'ack',
        replyTo: frame.messageId,
        messageId: `r-${frame.messageId}`,
        payload,
        ...(frame.channel !== undefined ? { channel: frame.channel } : {}),
      });
    });
  }

  error(sock: FakeWebSocket, frame: SentFrame, code: string, extra: { retryable?: boolean; details?: Record<string, unknown> } = {}): void {
    queueMicrotask(() => {
      if (sock.readyState !== 1) return;
      sock.receive({
        type: 'error',
        replyTo: frame.messageId,
        messageId: `e-${frame.messageId}`,
        payload: { code, message: `${code} for test`, retryable: extra.retryable ?? false, ...(extra.details ? { details: extra.details } : {}) },
      });
    });
  }

  framesOfType(type: string): SentFrame[] {
    return this.received.filter((r) => r.frame.type === type).map((r) => r.frame);
  }
}

function defaultAck(frame: SentFrame): unknown {
  switch (frame.type) {
    case 'hello':
      return { connectionId: 'conn-1', userId: 'u1', username: 'Ann', tenant: 'default', serverTime: new Date().toISOString() };
    case 'subscribe':
      return { channel: frame.channel };
    case 'unsubscribe':
      return { channel: frame.channel, wasSubscribed: true };
    default:
      return {};
  }
}
