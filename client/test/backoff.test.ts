import { describe, expect, it } from 'vitest';
import { backoffCap, backoffDelay, type BackoffOptions } from '../src/backoff.js';

const opts: BackoffOptions = { reconnectInterval: 1000, maxReconnectInterval: 30_000, reconnectDecay: 1.5 };
const randoms = [0, 1e-9, 0.25, 0.5, 0.75, 0.999999, 1];

describe('backoffCap', () => {
  it('grows by the decay factor and stops at the maximum', () => {
    expect(backoffCap(0, opts)).toBe(1000);
    expect(backoffCap(1, opts)).toBe(1500);
    expect(backoffCap(2, opts)).toBe(2250);
    expect(backoffCap(8, opts)).toBeCloseTo(25_628.90625);
    expect(backoffCap(9, opts)).toBe(30_000);
    let prev = 0;
    for (let n = 0; n < 200; n++) {
      const cap = backoffCap(n, opts);
      expect(cap).toBeGreaterThanOrEqual(prev);
      expect(cap).toBeLessThanOrEqual(opts.maxReconnectInterval);
      prev = cap;
    }
    expect(backoffCap(10_000, opts)).toBe(30_000);
    expect(backoffCap(Infinity, opts)).toBe(1000);
  });

  it('handles degenerate settings', () => {
    expect(backoffCap(5000, { ...opts, reconnectInterval: 0 })).toBe(0);
    expect(backoffCap(3, { ...opts, reconnectDecay: 1 })).toBe(1000);
    expect(backoffCap(0, { ...opts, maxReconnectInterval: 500 })).toBe(500);
    expect(backoffCap(-3, opts)).toBe(1000);
    expect(backoffCap(2.7, opts)).toBe(2250);
  });
});

describe('backoffDelay', () => {
  it('with equal jitter stays within [cap/2, cap] for every attempt and random value', () => {
    for (let n = 0; n < 500; n++) {
      const cap = backoffCap(n, opts);
      for (const r of randoms) {
        const d = backoffDelay(n, opts, () => r);
        expect(d).toBeGreaterThanOrEqual(cap / 2);
        expect(d).toBeLessThanOrEqual(cap);
        expect(d).toBeLessThanOrEqual(opts.maxReconnectInterval);
      }
    }
    expect(backoffDelay(0, opts, () => 0)).toBe(500);
    expect(backoffDelay(0, opts, () => 1)).toBe(1000);
    expect(backoffDelay(3, opts, () => 0.5)).toBeCloseTo(3375 * 0.75);
  });

  it('with full jitter stays within [0, cap]', () => {
    const full: BackoffOptions = { ...opts, jitter: 'full' };
    for (let n = 0; n < 500; n++) {
      const cap = backoffCap(n, full);
      for (const r of randoms) {
        const d = backoffDelay(n, full, () => r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(cap);
      }
    }
    expect(backoffDelay(2, full, () => 0)).toBe(0);
    expect(backoffDelay(2, full, () => 1)).toBe(2250);
  });

  it('without jitter is the envelope', () => {
    for (let n = 0; n < 50; n++) expect(backoffDelay(n, { ...opts, jitter: 'none' }, () => 0.3)).toBe(backoffCap(n, opts));
  });

  it('clamps a misbehaving random source', () => {
    for (const r of [-1, 2, NaN, Infinity, -Infinity]) {
      const d = backoffDelay(4, opts, () => r);
      expect(d).toBeGreaterThanOrEqual(backoffCap(4, opts) / 2);
      expect(d).toBeLessThanOrEqual(backoffCap(4, opts));
    }
  });

  it('uses Math.random by default and stays within bounds', () => {
    for (let i = 0; i < 1000; i++) {
      const n = i % 40;
      const d = backoffDelay(n, opts);
      expect(d).toBeGreaterThanOrEqual(backoffCap(n, opts) / 2);
      expect(d).toBeLessThanOrEqual(backoffCap(n, opts));
    }
  });
});
