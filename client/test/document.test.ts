import { describe, expect, it } from 'vitest';
import { applyChange, formatPath, getPath, liftToExistingParent, parsePath } from '../src/index.js';

describe('document paths', () => {
  it('parses and formats the server syntax', () => {
    expect(parsePath('customer.name')).toEqual(['customer', 'name']);
    expect(parsePath('items[2].qty')).toEqual(['items', 2, 'qty']);
    expect(parsePath('$.a["odd.key"]')).toEqual(['a', 'odd.key']);
    expect(formatPath(['a', 'odd.key', 3])).toBe('a["odd.key"][3]');
    expect(() => parsePath('.a')).toThrow(TypeError);
  });

  it('replays changes', () => {
    let d: Record<string, unknown> = { items: [1, 2], a: { b: 1 } };
    d = applyChange(d, { operation: 'insert', path: 'items[1]', after: 9 });
    d = applyChange(d, { operation: 'delete', path: 'a.b' });
    d = applyChange(d, { operation: 'increment', path: 'n', after: 3 });
    expect(d).toEqual({ items: [1, 9, 2], a: {}, n: 3 });
    expect(getPath(d, 'items[1]')).toBe(9);
  });

  it('lifts a change to the first missing parent', () => {
    expect(liftToExistingParent({}, 'a.b.c', 1)).toEqual({ path: 'a', value: { b: { c: 1 } } });
    expect(liftToExistingParent({ a: {} }, 'a.b.c', 1)).toEqual({ path: 'a.b', value: { c: 1 } });
    expect(liftToExistingParent({ a: { b: {} } }, 'a.b.c', 1)).toEqual({ path: 'a.b.c', value: 1 });
    expect(liftToExistingParent({}, 'items[0].qty', 1)).toEqual({ path: 'items[0].qty', value: 1 });
  });
});
