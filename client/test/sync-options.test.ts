import { describe, expect, it } from 'vitest';
import { RealtimeSyncManager, WebSocketClient, type RealtimeSyncManagerOptions } from '../src/index.js';

// The numeric options of RealtimeSyncManager are whole numbers >= 1; the
// constructor throws a TypeError naming the option for any other value.

const client = new WebSocketClient({ url: 'ws://t.invalid/ws' });

const make = (opts: Partial<RealtimeSyncManagerOptions>) => () => new RealtimeSyncManager({ client, ...opts });

describe('RealtimeSyncManager numeric options', () => {
  const names = ['historyLimit', 'lockTtl', 'commentLimit'] as const;
  const bad: unknown[] = [NaN, -1, 0, 0.5, 1.5, 100.25, Infinity, -Infinity, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, '100'];

  for (const name of names) {
    it.each(bad)(`refuses ${name} = %s with a TypeError naming it`, (value) => {
      expect(make({ [name]: value as number })).toThrow(TypeError);
      expect(make({ [name]: value as number })).toThrow(new RegExp(`option ${name} must be a whole number >= 1`));
    });

    it.each([1, 2, 100, Number.MAX_SAFE_INTEGER])(`takes ${name} = %s`, (value) => {
      expect(make({ [name]: value })).not.toThrow();
    });
  }

  it('takes the defaults', () => {
    expect(make({})).not.toThrow();
  });
});
