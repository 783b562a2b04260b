/**
 * How the reconnect delay is randomised within its exponential envelope.
 *
 * - `equal` (default): half the envelope is kept, the other half is random:
 *   delay in [cap/2, cap]. Every client waits at least half the envelope (a
 *   server that refuses handshakes is never hammered), yet a crowd of clients
 *   dropped at once spreads over the other half.
 * - `full`: delay in [0, cap]. Spreads a crowd the most; a single client may
 *   retry at once.
 * - `none`: delay = cap (deterministic; for tests and tooling).
 */
export type JitterMode = 'equal' | 'full' | 'none';

export interface BackoffOptions {
  /** Envelope of the first retry (ms). */
  reconnectInterval: number;
  /** Largest envelope (ms). */
  maxReconnectInterval: number;
  /** Growth factor of the envelope per attempt. */
  reconnectDecay: number;
  /** Default `equal`. */
  jitter?: JitterMode;
}

/**
 * The envelope of retry `attempt` (0 for the first retry):
 * min(maxReconnectInterval, reconnectInterval * reconnectDecay^attempt).
 */
export function backoffCap(attempt: number, opts: BackoffOptions): number {
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  const base = Math.max(0, opts.reconnectInterval);
  const max = Math.max(0, opts.maxReconnectInterval);
  const raw = base * Math.pow(Math.max(1, opts.reconnectDecay), n);
  // 0 * Infinity is NaN: a zero base interval stays zero.
  if (Number.isNaN(raw)) return 0;
  return Math.min(max, raw);
}

/**
 * The delay (ms) before reconnect attempt `attempt` (0 for the first retry):
 * the envelope `backoffCap(attempt)` randomised by `jitter` with `random`
 * (a function returning a number in [0, 1], like Math.random). Always within
 * [0, maxReconnectInterval]; with equal jitter within [cap/2, cap].
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const cap = backoffCap(attempt, opts);
  const jitter = opts.jitter ?? 'equal';
  if (jitter === 'none') return cap;
  let r = random();
  if (!Number.isFinite(r)) r = 0.5;
  r = Math.min(1, Math.max(0, r));
  if (jitter === 'full') return cap * r;
  return cap / 2 + (cap / 2) * r;
}
