import { describe, expect, it } from 'vitest';
import { applyLocalChange, type DocumentValue } from '../src/document.js';
import { textDiff, transformOp, transformText, type DocOp, type TextComponent } from '../src/ot.js';

const ins = (path: string, value: unknown): DocOp => ({ op: 'insert', path, value });
const upd = (path: string, value: unknown): DocOp => ({ op: 'update', path, value });
const del = (path: string): DocOp => ({ op: 'delete', path });
const mov = (path: string, from: number, to: number): DocOp => ({ op: 'move', path, from, to });
const inc = (path: string, delta: string): DocOp => ({ op: 'increment', path, delta });
const txt = (path: string, ...text: TextComponent[]): DocOp => ({ op: 'text', path, text });
const R = (n: number): TextComponent => ({ retain: n });
const I = (s: string): TextComponent => ({ insert: s });
const D = (n: number): TextComponent => ({ delete: n });

// The cases of the server's TestTransformSide (internal/ot).
const cases: [string, DocOp, DocOp, boolean, DocOp | null, string][] = [
  ['disjoint paths', upd('customer.name', 'A'), upd('status', 'paid'), true, upd('customer.name', 'A'), ''],
  ['insert shifts path through list', upd('items[3].qty', 4), ins('items[1]', 'x'), true, upd('items[4].qty', 4), ''],
  ['insert after target leaves it', upd('items[0].qty', 4), ins('items[1]', 'x'), true, upd('items[0].qty', 4), ''],
  ['insert at target index shifts it', upd('items[1]', 4), ins('items[1]', 'x'), true, upd('items[2]', 4), ''],
  ['delete shifts later sibling', del('items[3]'), del('items[1]'), true, del('items[2]'), ''],
  ['delete before insert gap', ins('items[3]', 1), del('items[1]'), true, ins('items[2]', 1), ''],
  ['insert gap at deleted index stays', ins('items[1]', 1), del('items[1]'), true, ins('items[1]', 1), ''],
  ['insert tie, a wins', ins('items[1]', 'a'), ins('items[1]', 'b'), true, ins('items[1]', 'a'), ''],
  ['insert tie, b wins', ins('items[1]', 'a'), ins('items[1]', 'b'), false, ins('items[2]', 'a'), ''],
  ['update of deleted element', upd('items[2].qty', 1), del('items[2]'), true, null, 'element deleted'],
  ['update under deleted key', upd('customer.name', 'A'), del('customer'), true, null, 'ancestor deleted'],
  ['update under replaced key', upd('customer.name', 'A'), upd('customer', {}), true, null, 'ancestor replaced'],
  ['delete twice', del('items[2]'), del('items[2]'), true, null, 'already deleted'],
  ['delete key twice', del('memo'), del('memo'), true, null, 'already deleted'],
  ['delete wins over update', del('memo'), upd('memo', 'x'), false, del('memo'), ''],
  ['update loses to delete', upd('memo', 'x'), del('memo'), true, null, 'target deleted'],
  ['update/update a wins', upd('status', 'paid'), upd('status', 'void'), true, upd('status', 'paid'), ''],
  ['update/update b wins', upd('status', 'paid'), upd('status', 'void'), false, null, 'overwritten'],
  ['object insert race won', ins('customer.email', 'a@x'), ins('customer.email', 'b@x'), true, upd('customer.email', 'a@x'), 'became an update'],
  ['increment vs update', inc('stock', '2'), upd('stock', 10), true, null, 'value replaced'],
  ['update vs increment', upd('stock', 10), inc('stock', '2'), false, upd('stock', 10), ''],
  ['increments commute', inc('stock', '2'), inc('stock', '-1'), true, inc('stock', '2'), ''],
  ['ancestor update beats nested edit', txt('customer.name', I('x')), upd('customer', null), true, null, 'ancestor replaced'],
  ['nested edit does not stop update', upd('customer', null), txt('customer.name', I('x')), false, upd('customer', null), ''],
  ['text shifted by insert', txt('notes', R(5), I('!')), txt('notes', I('ab')), true, txt('notes', R(7), I('!')), ''],
  ['text insert tie a wins', txt('notes', R(2), I('A')), txt('notes', R(2), I('B')), true, txt('notes', R(2), I('A')), ''],
  ['text insert tie b wins', txt('notes', R(2), I('A')), txt('notes', R(2), I('B')), false, txt('notes', R(3), I('A')), ''],
  ['overlapping deletes', txt('notes', R(1), D(4)), txt('notes', R(3), D(4)), true, txt('notes', R(1), D(2)), ''],
  ['insert inside deleted range survives', txt('notes', R(3), I('x')), txt('notes', R(1), D(4)), true, txt('notes', R(1), I('x')), ''],
  ['element follows move', upd('items[0].qty', 1), mov('items', 0, 3), true, upd('items[3].qty', 1), ''],
  ['sibling shifted by move', upd('items[2].qty', 1), mov('items', 0, 3), true, upd('items[1].qty', 1), ''],
  ['move after insert', mov('items', 2, 0), ins('items[0]', 'x'), true, mov('items', 3, 1), ''],
  ['move of deleted element', mov('items', 2, 0), del('items[2]'), true, null, 'moved element deleted'],
  ['same element moved, a wins', mov('items', 1, 3), mov('items', 1, 0), true, mov('items', 0, 3), ''],
  ['same element moved, b wins', mov('items', 1, 3), mov('items', 1, 0), false, null, 'moved elsewhere'],
  ['move vs replaced list', mov('items', 1, 3), upd('items', []), true, null, 'value replaced'],
  ['invalid b ignored', upd('c', 1), upd('a..b', 1), true, upd('c', 1), ''],
];

describe('transformOp (the server rules)', () => {
  it.each(cases)('%s', (_name, a, b, aWins, want, notice) => {
    const got = transformOp(a, b, aWins);
    expect(got.ok).toBe(want !== null);
    if (want !== null) expect(got.op).toEqual(want);
    expect(got.notice ?? '').toContain(notice);
  });

  it('leaves an invalid operation for the server to refuse', () => {
    expect(transformOp(upd('a..b', 1), upd('c', 1), true)).toEqual({ op: upd('a..b', 1), ok: true });
  });

  it('does not modify its arguments', () => {
    const a = txt('notes', R(5), I('!'));
    const b = txt('notes', I('ab'));
    transformOp(a, b, true);
    transformOp(b, a, false);
    expect(a).toEqual(txt('notes', R(5), I('!')));
    expect(b).toEqual(txt('notes', I('ab')));
  });

  it('folds over a history as the server rebases (TransformAgainst)', () => {
    const fold = (a: DocOp, history: DocOp[]): DocOp | null => {
      let cur: DocOp = a;
      for (const h of history) {
        const r = transformOp(cur, h, true);
        if (!r.ok) return null;
        cur = r.op;
      }
      return cur;
    };
    expect(fold(upd('items[1].qty', 3), [ins('items[0]', 1), ins('items[0]', 2)])).toEqual(upd('items[3].qty', 3));
    expect(fold(upd('items[1].qty', 3), [ins('items[0]', 1), del('items[2]')])).toBeNull();
    expect(fold(del('items[1]'), [ins('items[0]', 1), mov('items', 2, 0)])).toEqual(del('items[0]'));
  });
});

describe('transformText', () => {
  const apply = (s: string, t: TextComponent[]): string =>
    (applyLocalChange({ s } as DocumentValue, { operation: 'text', path: 's', text: t }) as { s: string }).s;

  it('converges both ways (TP1), code points counted', () => {
    const base = 'héllo 😀 wörld';
    const edits: TextComponent[][] = [
      [I('>')],
      [R(6), I('big ')],
      [R(6), D(2), I('🙂')],
      [R(1), D(4)],
      [R(3), D(9)],
      [R(13), I('!')],
      [R(6), I('A')],
    ];
    for (const a of edits) {
      for (const b of edits) {
        const left = apply(apply(base, a), transformText(b, a, false));
        const right = apply(apply(base, b), transformText(a, b, true));
        expect(left, `${JSON.stringify(a)} / ${JSON.stringify(b)}`).toBe(right);
      }
    }
  });

  it('textDiff turns one string into the other', () => {
    expect(textDiff('abc', '123abc')).toEqual([I('123')]);
    expect(textDiff('Hello world', 'Hello สวัสดี world')).toEqual([R(6), I('สวัสดี ')]);
    expect(textDiff('abcdef', 'abXf')).toEqual([R(2), I('X'), D(3)]);
    expect(apply('a😀b', textDiff('a😀b', 'ab'))).toBe('ab');
  });
});
