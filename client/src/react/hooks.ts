import { useEffect, useMemo, useReducer, useRef, useState, useSyncExternalStore } from 'react';
import type { RealtimeError } from '../errors.js';
import type {
  AckPayload,
  HelloAck,
  OutgoingMessage,
  RecoveryFailed,
  RequestType,
  SubscribeAck,
  UnsubscribeAck,
  WebSocketMessage,
} from '../types.js';
import {
  WebSocketClient,
  type ClientSnapshot,
  type CloseInfo,
  type ConnectionState,
  type RequestOptions,
  type RequestParams,
  type SendOptions,
  type WebSocketClientEvents,
  type WebSocketClientOptions,
} from '../websocket-client.js';
import type { Listener } from '../emitter.js';

/** Callbacks that the hooks call with the latest props (no re-subscription on change). */
export interface WebSocketCallbacks {
  onMessage?: (message: WebSocketMessage) => void;
  onOpen?: (event: { reconnected: boolean }) => void;
  onClose?: (event: CloseInfo) => void;
  onError?: (error: RealtimeError) => void;
  onStateChange?: (state: ConnectionState) => void;
}

/**
 * Options of `useWebSocket`: the client's options plus hook behaviour. Pass
 * `client` to use an existing client (the hook then never disconnects it),
 * or `url` (and client options) to let the hook own one.
 *
 * An owned client is created once per URL: changing `url` (a string)
 * replaces it; other option changes are ignored after creation. A function
 * `url` may change identity freely; the latest one is called. An owned
 * client that is replaced, or whose component unmounts, is destroyed: its
 * pending requests and subscribes reject with CLIENT_DESTROYED.
 */
export interface UseWebSocketOptions extends Omit<WebSocketClientOptions, 'url'>, WebSocketCallbacks {
  url?: WebSocketClientOptions['url'];
  client?: WebSocketClient;
  /** Connect on mount. Default true for an owned client, false for a given one. */
  autoConnect?: boolean;
}

export interface UseWebSocketResult {
  status: ConnectionState;
  connected: boolean;
  /** `connecting` or `reconnecting`. */
  connecting: boolean;
  /** `idle` or `closed`. */
  disconnected: boolean;
  latency: number | null;
  queuedMessages: number;
  pendingRequests: number;
  reconnectAttempts: number;
  subscriptions: readonly string[];
  session: HelloAck | null;

  connect: () => void;
  disconnect: () => void;
  send: <P = unknown>(message: OutgoingMessage<P>, options?: SendOptions) => string;
  request: <T extends RequestType | (string & {}), R = AckPayload<T>>(
    type: T,
    params?: RequestParams,
    options?: RequestOptions,
  ) => Promise<R>;
  subscribe: (channel: string) => Promise<SubscribeAck>;
  unsubscribe: (channel: string) => Promise<UnsubscribeAck>;
  publish: <P = unknown>(channel: string, payload: P, options?: RequestOptions) => Promise<AckPayload<'publish'>>;
  clearQueue: () => number;
  on: <K extends keyof WebSocketClientEvents>(event: K, listener: Listener<WebSocketClientEvents, K>) => () => void;
  client: WebSocketClient;
}

/** Where a hook gets its client: a client, a `useWebSocket` result, or options for a client of its own. */
export type ClientSource = WebSocketClient | UseWebSocketResult | UseWebSocketOptions;

function isClient(x: unknown): x is WebSocketClient {
  if (x instanceof WebSocketClient) return true;
  // Duck typing too, in case two copies of the package are bundled.
  const c = x as Partial<WebSocketClient> | null;
  return (
    typeof c === 'object' && c !== null && typeof c.subscribeSnapshot === 'function' && typeof c.getSnapshot === 'function'
  );
}

const FUNCTION_URL = Symbol('function url');

/** Owned clients let go of by their hook, to be destroyed unless taken back first. */
const lettingGo = new WeakSet<WebSocketClient>();
/** Owned clients destroyed by their hook. */
const destroyedOwned = new WeakSet<WebSocketClient>();

/**
 * Destroys an owned client its hook let go of (replaced, or unmounted), in
 * a microtask: React StrictMode's unmount and mount again, which run
 * together, take it back before then.
 */
function letGo(client: WebSocketClient): void {
  lettingGo.add(client);
  queueMicrotask(() => {
    if (!lettingGo.has(client)) return;
    lettingGo.delete(client);
    destroyedOwned.add(client);
    client.destroy();
  });
}

/** Resolves a ClientSource to a client and runs the owned client's lifecycle. */
export function useResolvedClient(source: ClientSource): WebSocketClient {
  const given = isClient(source) ? source : (source.client ?? null);
  const options: UseWebSocketOptions | null = isClient(source) || 'status' in source ? null : source;

  const urlRef = useRef<WebSocketClientOptions['url'] | undefined>(undefined);
  urlRef.current = options?.url;
  const owned = useRef<{ key: string | symbol; client: WebSocketClient } | null>(null);

  let client: WebSocketClient;
  if (given !== null) {
    client = given;
  } else {
    const opts = options as UseWebSocketOptions;
    const url = opts.url;
    if (url === undefined) throw new Error('useWebSocket: pass a url or a client');
    const key = typeof url === 'string' ? url : FUNCTION_URL;
    // A client destroyed while the component was hidden (an Activity) is
    // replaced when it renders again.
    if (owned.current === null || owned.current.key !== key || destroyedOwned.has(owned.current.client)) {
      const clientOptions: WebSocketClientOptions = { ...stripHookOptions(opts), url };
      if (typeof url === 'function') {
        clientOptions.url = () => {
          const latest = urlRef.current;
          if (latest === undefined) throw new Error('useWebSocket: url is gone');
          return typeof latest === 'string' ? latest : latest();
        };
      }
      owned.current = { key, client: new WebSocketClient(clientOptions) };
    }
    client = owned.current.client;
  }

  const isOwned = given === null;
  const autoConnect = options?.autoConnect ?? isOwned;
  const [, renderAgain] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (isOwned) {
      // Mounted again, without rendering first, after its client was
      // destroyed: the render asked for makes a new one.
      if (destroyedOwned.has(client)) {
        renderAgain();
        return undefined;
      }
      lettingGo.delete(client);
    }
    if (autoConnect) client.connect();
    return () => {
      if (!isOwned) return;
      client.disconnect();
      letGo(client);
    };
  }, [client, autoConnect, isOwned]);
  return client;
}

function stripHookOptions(o: UseWebSocketOptions): Omit<WebSocketClientOptions, 'url'> {
  const {
    client: _client,
    autoConnect: _autoConnect,
    onMessage: _onMessage,
    onOpen: _onOpen,
    onClose: _onClose,
    onError: _onError,
    onStateChange: _onStateChange,
    url: _url,
    ...rest
  } = o;
  return rest;
}

function useSnapshot(client: WebSocketClient): ClientSnapshot {
  return useSyncExternalStore(client.subscribeSnapshot, client.getSnapshot, client.getSnapshot);
}

/** Keeps `value` in a ref that always holds the latest render's value. */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  ref.current = value;
  return ref;
}

function useCallbacks(client: WebSocketClient, callbacks: WebSocketCallbacks | null): void {
  const latest = useLatest(callbacks);
  useEffect(() => {
    const offs = [
      client.on('message', (m) => latest.current?.onMessage?.(m)),
      client.on('open', (e) => latest.current?.onOpen?.(e)),
      client.on('close', (e) => latest.current?.onClose?.(e)),
      client.on('error', (e) => latest.current?.onError?.(e)),
      client.on('statechange', (e) => latest.current?.onStateChange?.(e.state)),
    ];
    return () => {
      for (const off of offs) off();
    };
  }, [client, latest]);
}

/**
 * A WebSocket connection for a component: its status, counters and methods.
 * Re-renders when the connection's snapshot changes (status, latency,
 * queue length, subscriptions, session).
 */
export function useWebSocket(options: UseWebSocketOptions | WebSocketClient): UseWebSocketResult {
  const client = useResolvedClient(options);
  const snap = useSnapshot(client);
  useCallbacks(client, isClient(options) ? null : options);
  const actions = useMemo(
    () => ({
      connect: () => client.connect(),
      disconnect: () => client.disconnect(),
      send: <P = unknown>(message: OutgoingMessage<P>, o?: SendOptions) => client.send(message, o),
      request: <T extends RequestType | (string & {}), R = AckPayload<T>>(type: T, params?: RequestParams, o?: RequestOptions) =>
        client.request<T, R>(type, params, o),
      subscribe: (channel: string) => client.subscribe(channel),
      unsubscribe: (channel: string) => client.unsubscribe(channel),
      publish: <P = unknown>(channel: string, payload: P, o?: RequestOptions) => client.publish(channel, payload, o),
      clearQueue: () => client.clearQueue(),
      on: <K extends keyof WebSocketClientEvents>(event: K, listener: Listener<WebSocketClientEvents, K>) =>
        client.on(event, listener),
    }),
    [client],
  );
  return {
    ...statusOf(snap),
    pendingRequests: snap.pendingRequests,
    reconnectAttempts: snap.reconnectAttempts,
    subscriptions: snap.subscriptions,
    session: snap.session,
    ...actions,
    client,
  };
}

export interface WebSocketStatus {
  status: ConnectionState;
  connected: boolean;
  connecting: boolean;
  disconnected: boolean;
  latency: number | null;
  queuedMessages: number;
}

function statusOf(snap: ClientSnapshot): WebSocketStatus {
  return {
    status: snap.state,
    connected: snap.state === 'open',
    connecting: snap.state === 'connecting' || snap.state === 'reconnecting',
    disconnected: snap.state === 'idle' || snap.state === 'closed',
    latency: snap.latency,
    queuedMessages: snap.queuedMessages,
  };
}

/** Connection status only. */
export function useWebSocketStatus(source: ClientSource): WebSocketStatus {
  const client = useResolvedClient(source);
  const snap = useSnapshot(client);
  return useMemo(() => statusOf(snap), [snap]);
}

export interface MessageListOptions {
  /**
   * Most recent messages kept in `messages`. Default 100; 0 keeps none.
   * A repeat of one of the latest REMEMBERED_MESSAGES messages (the same
   * type, channel, `userId` and `messageId`: delivered again, or announced
   * again for a request sent again) is dropped: not kept, and not passed
   * to `onMessage`.
   */
  maxMessages?: number;
  /**
   * Called when the publications the channel missed could not be recovered
   * (see the client's `recovery-failed` event): refetch the state here.
   */
  onRecoveryFailed?: (event: RecoveryFailed) => void;
}

export interface UseWebSocketChannelResult<P> {
  /** Messages received on the channel, oldest first. */
  messages: WebSocketMessage<P>[];
  lastMessage: WebSocketMessage<P> | null;
  /** The server acknowledged the subscription on the current connection. */
  subscribed: boolean;
  /** Why subscribing failed, if it did. */
  error: RealtimeError | null;
  /**
   * The latest `recovery-failed` of the channel (missed publications that
   * the server no longer had); null until one happens. The subscription
   * continues live.
   */
  recoveryFailed: RecoveryFailed | null;
  publish: (payload: P, options?: RequestOptions) => Promise<AckPayload<'publish'>>;
  clear: () => void;
}

/** How many messages a list hook remembers to drop their repeats (see repeatFilter). */
const REMEMBERED_MESSAGES = 1000;

/**
 * A filter that reports whether a message repeats one of the latest
 * REMEMBERED_MESSAGES it was shown, and remembers it otherwise. The server
 * delivers events at least once, and announces again, with the same
 * messageId, what a request sent again did (a notify's notification, a
 * change's activity entry): a repeat has the type, channel, sender
 * (`userId`) and messageId of a message before it. Request ids are chosen
 * by each client, so the sender is part of the key, as it is of the
 * server's own deduplication.
 */
function repeatFilter(): (m: WebSocketMessage) => boolean {
  const seen = new Set<string>();
  return (m) => {
    if (typeof m.messageId !== 'string' || m.messageId === '') return false;
    const key = JSON.stringify([m.type, m.channel ?? '', m.userId ?? '', m.messageId]);
    if (seen.has(key)) return true;
    seen.add(key);
    if (seen.size > REMEMBERED_MESSAGES) {
      const oldest = seen.values().next();
      if (oldest.done !== true) seen.delete(oldest.value);
    }
    return false;
  };
}

function appendBounded<T>(list: T[], item: T, max: number): T[] {
  if (max <= 0) return list.length === 0 ? list : [];
  const next = list.length >= max ? list.slice(list.length - max + 1) : list.slice();
  next.push(item);
  return next;
}

/**
 * Subscribes to `channel` while mounted (null or empty: none) and collects
 * the frames pushed on it. Channels are reference-counted per client (see
 * `WebSocketClient.retain`), with the managers' channels too.
 */
export function useWebSocketChannel<P = unknown>(
  source: ClientSource,
  channel: string | null | undefined,
  onMessage?: (message: WebSocketMessage<P>) => void,
  options: MessageListOptions = {},
): UseWebSocketChannelResult<P> {
  const client = useResolvedClient(source);
  // A ref, so that a new cap applies to the next message without the
  // channel being unsubscribed and its messages dropped.
  const maxRef = useLatest(options.maxMessages ?? 100);
  const onMessageRef = useLatest(onMessage);
  const onRecoveryFailedRef = useLatest(options.onRecoveryFailed);
  const [messages, setMessages] = useState<WebSocketMessage<P>[]>([]);
  const [subscribed, setSubscribed] = useState(false);
  const [error, setError] = useState<RealtimeError | null>(null);
  const [recoveryFailed, setRecoveryFailed] = useState<RecoveryFailed | null>(null);

  useEffect(() => {
    setMessages([]);
    setSubscribed(false);
    setError(null);
    setRecoveryFailed(null);
    if (channel === null || channel === undefined || channel === '') return undefined;
    let active = true;
    // Held through the client, so that another hook or a manager using the
    // channel keeps it when this component unmounts.
    const release = client.retain(channel);
    client.subscribe(channel).then(
      () => {
        if (active) setSubscribed(true);
      },
      (err: RealtimeError) => {
        if (active && err.code !== 'CANCELLED' && err.code !== 'CLIENT_DESTROYED') setError(err);
      },
    );
    const repeat = repeatFilter();
    const offMessage = client.onChannel<P>(channel, (m) => {
      if (repeat(m)) return;
      onMessageRef.current?.(m);
      setMessages((prev) => appendBounded(prev, m, maxRef.current));
    });
    const offError = client.on('subscription-error', (e) => {
      if (e.channel !== channel) return;
      setSubscribed(false);
      setError(e.error);
    });
    const offRecovery = client.on('recovery-failed', (e) => {
      if (e.channel !== channel) return;
      setRecoveryFailed(e);
      onRecoveryFailedRef.current?.(e);
    });
    // A new connection starts without subscriptions; each comes back with
    // its acknowledgement (`ready` does not wait for one retried after a
    // timeout).
    const offClose = client.on('close', () => setSubscribed(false));
    const offReady = client.on('ready', () => setSubscribed(client.isSubscribed(channel)));
    const offSubscribed = client.on('subscribed', (e) => {
      if (e.channel === channel) setSubscribed(true);
    });
    return () => {
      active = false;
      offMessage();
      offError();
      offRecovery();
      offClose();
      offReady();
      offSubscribed();
      release();
    };
  }, [client, channel, maxRef, onMessageRef, onRecoveryFailedRef]);

  const publish = useMemo(
    () => (payload: P, o?: RequestOptions) => {
      if (channel === null || channel === undefined || channel === '') {
        return Promise.reject(new Error('useWebSocketChannel: no channel to publish on'));
      }
      return client.publish(channel, payload, o);
    },
    [client, channel],
  );
  const clear = useMemo(() => () => setMessages([]), []);
  return { messages, lastMessage: messages[messages.length - 1] ?? null, subscribed, error, recoveryFailed, publish, clear };
}

export interface UseWebSocketMessagesOptions extends MessageListOptions {
  /** Keep (and report) only the messages that pass. Read on every message, so it may change freely. */
  filter?: (message: WebSocketMessage) => boolean;
}

export interface UseWebSocketMessagesResult {
  messages: WebSocketMessage[];
  lastMessage: WebSocketMessage | null;
  clear: () => void;
}

/** Listens to every incoming message (except replies to this client's own requests). */
export function useWebSocketMessages(
  source: ClientSource,
  onMessage?: (message: WebSocketMessage) => void,
  options: UseWebSocketMessagesOptions = {},
): UseWebSocketMessagesResult {
  const client = useResolvedClient(source);
  const max = options.maxMessages ?? 100;
  const onMessageRef = useLatest(onMessage);
  const filterRef = useLatest(options.filter);
  const [messages, setMessages] = useState<WebSocketMessage[]>([]);

  useEffect(() => {
    const repeat = repeatFilter();
    return client.on('message', (m) => {
      const filter = filterRef.current;
      if (filter !== undefined && !filter(m)) return;
      if (repeat(m)) return;
      onMessageRef.current?.(m);
      setMessages((prev) => appendBounded(prev, m, max));
    });
  }, [client, max, onMessageRef, filterRef]);
  const clear = useMemo(() => () => setMessages([]), []);
  return { messages, lastMessage: messages[messages.length - 1] ?? null, clear };
}
