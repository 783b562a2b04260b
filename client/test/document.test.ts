import { describe, expect, it } from 'vitest';
import { applyChange, applyLocalChange, formatPath, getPath, liftToExistingParent, parsePath } from '../src/index.js';

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

describe('applyLocalChange', () => {
  const doc: Record<string, unknown> = { notes: 'Hi 😀 there', stock: 10, tags: ['a', 'b', 'c'], name: 'x' };

  it('works out text, increment and move as the server would', () => {
    // Counts are code points: the emoji is one.
    expect(applyLocalChange(doc, { operation: 'text', path: 'notes', text: [{ retain: 3 }, { delete: 1 }, { insert: '🙂' }] })['notes']).toBe(
      'Hi 🙂 there',
    );
    expect(applyLocalChange(doc, { operation: 'text', path: 'notes', text: [{ retain: 3 }, { insert: 'big ' }] })['notes']).toBe('Hi big 😀 there');
    expect(applyLocalChange(doc, { operation: 'increment', path: 'stock', delta: 2 })['stock']).toBe(12);
    expect(applyLocalChange(doc, { operation: 'increment', path: 'stock', delta: '-0.5' })['stock']).toBe(9.5);
    expect(applyLocalChange(doc, { operation: 'increment', path: 'count', delta: 3 })['count']).toBe(3);
    expect(applyLocalChange(doc, { operation: 'move', path: 'tags', from: 0, to: 2 })['tags']).toEqual(['b', 'c', 'a']);
    expect(applyLocalChange(doc, { operation: 'move', path: 'tags', from: 2, to: 0 })['tags']).toEqual(['c', 'a', 'b']);
    expect(applyLocalChange(doc, { operation: 'update', path: 'name', after: 'y' })['name']).toBe('y');
  });

  it('leaves the document as it is when the change does not apply', () => {
    for (const c of [
      { operation: 'text', path: 'notes', text: [{ retain: 11 }, { insert: 'x' }] }, // past the end (10 code points)
      { operation: 'text', path: 'stock', text: [{ insert: 'x' }] }, // not a string
      { operation: 'text', path: 'notes', text: [{ retain: 0 }] },
      { operation: 'increment', path: 'name', delta: 1 }, // not a number
      { operation: 'increment', path: 'stock', delta: 'abc' },
      { operation: 'increment', path: 'stock', delta: 1.7976931348623157e308 * 10 },
      { operation: 'move', path: 'tags', from: 3, to: 0 },
      { operation: 'move', path: 'tags', from: 0.5, to: 1 },
      { operation: 'move', path: 'name', from: 0, to: 1 },
    ] as const) {
      expect(applyLocalChange(doc, c), JSON.stringify(c)).toBe(doc);
    }
  });
});
