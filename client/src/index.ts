export * from './types.js';
export {
  RealtimeError,
  isRealtimeError,
  isRetryableCode,
  type ErrorCode,
  type ServerErrorCode,
  type ClientErrorCode,
  type RealtimeErrorInit,
} from './errors.js';
export { backoffDelay, backoffCap, type BackoffOptions, type JitterMode } from './backoff.js';
export { Emitter, type Listener } from './emitter.js';
export { generateMessageId, isValidChannel, MAX_CHANNEL_LENGTH } from './ids.js';
export {
  WebSocketClient,
  createWebSocketClient,
  getWebSocketClient,
  resetWebSocketClient,
  systemClock,
  WS_OPEN,
  MAX_FRAME_BYTES,
  type ConnectionState,
  type WebSocketLike,
  type WebSocketConstructor,
  type Clock,
  type RateLimitOptions,
  type WebSocketClientOptions,
  type WebSocketClientEvents,
  type CloseCause,
  type CloseInfo,
  type RequestInfo,
  type ClientSnapshot,
  type RequestParams,
  type RequestOptions,
  type SendOptions,
} from './websocket-client.js';
export {
  RealtimeSyncManager,
  createRealtimeSyncManager,
  getRealtimeSyncManager,
  entityChannel,
  type SyncState,
  type ChangeInput,
  type EntitySyncState,
  type RealtimeSyncManagerOptions,
  type RealtimeSyncManagerEvents,
  type PushOptions,
  type ChangeAck,
} from './sync-manager.js';
export {
  PresenceManager,
  createPresenceManager,
  getPresenceManager,
  retainPresenceManager,
  canonicalRoom,
  roomChannel,
  type CursorPosition,
  type CursorAnchor,
  type RoomPresence,
  type PresenceSnapshot,
  type PresenceManagerOptions,
  type PresenceManagerEvents,
} from './presence.js';
export { parsePath, formatPath, getPath, setPath, deletePath, applyChange, liftToExistingParent, type DocumentValue, type PathSegment, type ReplayableChange } from './document.js';
