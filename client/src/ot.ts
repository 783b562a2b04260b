/**
 * Operational transform of document operations, as the server does it for
 * entities under the `operational-transform` strategy (and for every
 * strategy when it rebases a change past the history since its base).
 *
 * The sync manager uses it to carry local changes that wait to be sent past
 * the changes other users made meanwhile: a waiting change is then sent
 * against the version that holds those changes, with its text positions and
 * list indexes moved the way the server would move them.
 *
 * The rules are the server's (see its `ot` package): a list insert, delete
 * or move shifts the indexes of the list's later elements and of every path
 * through them; an operation on a path deleted (or replaced) by the other
 * one is dropped; concurrent text edits of the same string are transformed
 * component by component; ties go to the side that `aWins`.
 */
import { parsePath, formatPath, type PathSegment } from './document.js';

/** One text component: exactly one of retain, insert, delete. */
export interface TextComponent {
  retain?: number;
  insert?: string;
  delete?: number;
}

/** An operation as the server applies it (the `op` of a stored change). */
export interface DocOp {
  op: string;
  path: string;
  value?: unknown;
  from?: number;
  to?: number;
  delta?: number | string;
  text?: TextComponent[];
}

/** The result of a transform: `ok` is false when nothing is left of the operation. */
export interface TransformResult {
  op: DocOp;
  ok: boolean;
  /** Why the operation was dropped, or how its meaning changed. */
  notice?: string;
}

const KINDS = new Set(['insert', 'update', 'delete', 'move', 'increment', 'text']);

function cpLen(s: string): number {
  return Array.from(s).length;
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1;
}

function validText(text: unknown): text is TextComponent[] {
  if (!Array.isArray(text)) return false;
  for (const c of text as unknown[]) {
    if (typeof c !== 'object' || c === null) return false;
    const r = c as TextComponent;
    const members = Number(r.retain !== undefined) + Number(r.insert !== undefined) + Number(r.delete !== undefined);
    if (members !== 1) return false;
    if (r.retain !== undefined && !isCount(r.retain)) return false;
    if (r.delete !== undefined && !isCount(r.delete)) return false;
    if (r.insert !== undefined && (typeof r.insert !== 'string' || r.insert === '')) return false;
  }
  return true;
}

/** The parsed path of a well-formed operation, or null. */
function validate(o: DocOp): PathSegment[] | null {
  if (!KINDS.has(o.op)) return null;
  let p: PathSegment[];
  try {
    p = parsePath(o.path);
  } catch {
    return null;
  }
  if (p.length === 0) return null;
  if (o.op === 'move') {
    const from = o.from ?? 0;
    const to = o.to ?? 0;
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < 0) return null;
  }
  if (o.op === 'text' && !validText(o.text)) return null;
  return p;
}

function segEqual(a: PathSegment, b: PathSegment): boolean {
  return a === b;
}

function pathEqual(a: readonly PathSegment[], b: readonly PathSegment[]): boolean {
  return a.length === b.length && a.every((s, i) => segEqual(s, b[i] as PathSegment));
}

function hasPrefix(p: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return p.length >= prefix.length && prefix.every((s, i) => segEqual(s, p[i] as PathSegment));
}

function describe(o: DocOp): string {
  if (o.op === 'move') return `move ${JSON.stringify(o.path)} ${o.from ?? 0}->${o.to ?? 0}`;
  if (o.op === 'increment') return `increment ${JSON.stringify(o.path)} by ${String(o.delta)}`;
  return `${o.op} ${JSON.stringify(o.path)}`;
}

function dropped(a: DocOp, b: DocOp, why: string): TransformResult {
  return { op: a, ok: false, notice: `${describe(a)} dropped: ${why} by concurrent ${describe(b)}` };
}

interface ListEffect {
  kind: 'insert' | 'delete' | 'move';
  list: PathSegment[];
  index: number;
  from: number;
  to: number;
}

function listEffectOf(o: DocOp, p: PathSegment[]): ListEffect | null {
  if (o.op === 'insert' || o.op === 'delete') {
    const last = p[p.length - 1];
    if (typeof last === 'number') return { kind: o.op, list: p.slice(0, -1), index: last, from: 0, to: 0 };
    return null;
  }
  if (o.op === 'move') return { kind: 'move', list: p, index: 0, from: o.from ?? 0, to: o.to ?? 0 };
  return null;
}

/**
 * Transforms `a` against `b` (concurrent with it, both written against the
 * same document) and returns the operation to apply after `b`. When both
 * insert at the same list index or text position, update the same path or
 * move the same element, `a` comes first (or wins) when `aWins` is true: the
 * server rebases an incoming change with `aWins` true. An invalid `a` is
 * returned unchanged (the server will refuse it); an invalid `b` leaves `a`
 * unchanged. Neither argument is modified.
 */
export function transformOp(a: DocOp, b: DocOp, aWins: boolean): TransformResult {
  const pa = validate(a);
  if (pa === null) return { op: a, ok: true };
  const pb = validate(b);
  if (pb === null) return { op: a, ok: true };
  const e = listEffectOf(b, pb);
  if (e !== null) return againstList({ ...a }, pa, b, e, aWins);
  return againstValue({ ...a }, pa, b, pb, aWins);
}

function againstList(a: DocOp, pa: PathSegment[], b: DocOp, e: ListEffect, aWins: boolean): TransformResult {
  const k = e.list.length;
  if (a.op === 'move' && pathEqual(pa, e.list)) return moveAgainstList(a, b, e, aWins);
  const seg = pa[k];
  if (pa.length <= k || !hasPrefix(pa, e.list) || typeof seg !== 'number') return { op: a, ok: true };
  const j = seg;
  const gap = a.op === 'insert' && pa.length === k + 1;
  let nj = j;
  switch (e.kind) {
    case 'insert':
      if (j > e.index || (j === e.index && (!gap || !aWins))) nj = j + 1;
      break;
    case 'delete':
      if (j > e.index) nj = j - 1;
      else if (j === e.index && !gap) {
        if (a.op === 'delete' && pa.length === k + 1) return dropped(a, b, 'element already deleted');
        return dropped(a, b, 'element deleted');
      }
      break;
    case 'move':
      nj = gap ? insertVsMove(j, e.from, e.to)[0] : mapMove(j, e.from, e.to);
      break;
  }
  if (nj === j) return { op: a, ok: true };
  const np = pa.slice();
  np[k] = nj;
  return { op: { ...a, path: formatPath(np) }, ok: true };
}

/** The index, after moving element f to index t, of the element that was at j (j may be the length). */
export function mapMove(j: number, f: number, t: number): number {
  if (j === f) return t;
  let r = j;
  if (r > f) r--;
  if (r >= t) r++;
  return r;
}

/**
 * An insert at gap g concurrent with a move of element f to index t: the
 * insert index to use after the move and the move target to use after the
 * insert (the server's rule, see its insertVsMove).
 */
function insertVsMove(g: number, f: number, t: number): [number, number] {
  let ga = g;
  if (f < g) ga--;
  if (ga < t || (ga === t && g !== f + 1)) return [ga, t + 1];
  return [ga + 1, t];
}

function moveAgainstList(a: DocOp, b: DocOp, e: ListEffect, aWins: boolean): TransformResult {
  const f = a.from ?? 0;
  const t = a.to ?? 0;
  switch (e.kind) {
    case 'insert': {
      const nt = insertVsMove(e.index, f, t)[1];
      return { op: { ...a, from: f >= e.index ? f + 1 : f, to: nt }, ok: true };
    }
    case 'delete': {
      if (e.index === f) return dropped(a, b, 'moved element deleted');
      let nf = f;
      let nt = t;
      if (f > e.index) nf--;
      if (mapMove(e.index, f, t) < t) nt--;
      return { op: { ...a, from: nf, to: nt }, ok: true };
    }
    case 'move': {
      if (f === e.from) {
        if (!aWins) return dropped(a, b, 'element moved elsewhere');
        return { op: { ...a, from: e.to, to: t }, ok: true };
      }
      let ga = t;
      if (mapMove(e.from, f, t) < t) ga--;
      let gb = e.to;
      if (mapMove(f, e.from, e.to) < e.to) gb--;
      let nt = ga;
      if (ga > gb || (ga === gb && !aWins)) nt++;
      return { op: { ...a, from: mapMove(f, e.from, e.to), to: nt }, ok: true };
    }
  }
}

function againstValue(a: DocOp, pa: PathSegment[], b: DocOp, pb: PathSegment[], aWins: boolean): TransformResult {
  if (pathEqual(pa, pb)) return sameTarget(a, pa, b, aWins);
  if (pb.length < pa.length && hasPrefix(pa, pb)) {
    if (b.op === 'delete') return dropped(a, b, 'ancestor deleted');
    if (b.op === 'update' || b.op === 'insert') return dropped(a, b, 'ancestor replaced');
  }
  return { op: a, ok: true };
}

function sameTarget(a: DocOp, pa: PathSegment[], b: DocOp, aWins: boolean): TransformResult {
  if (a.op === 'insert' && typeof pa[pa.length - 1] === 'number') return { op: a, ok: true };
  switch (b.op) {
    case 'delete':
      return dropped(a, b, a.op === 'delete' ? 'already deleted' : 'target deleted');
    case 'update':
    case 'insert':
      if (a.op === 'update' || a.op === 'insert') {
        if (!aWins) return dropped(a, b, 'value overwritten');
        return asUpdate(a, b);
      }
      if (a.op === 'delete') return { op: a, ok: true };
      return dropped(a, b, 'value replaced');
    case 'increment':
      if (a.op === 'insert') return asUpdate(a, b);
      break;
    case 'text':
      if (a.op === 'text') return { op: { ...a, text: transformText(a.text ?? [], b.text ?? [], aWins) }, ok: true };
      break;
  }
  return { op: a, ok: true };
}

function asUpdate(a: DocOp, b: DocOp): TransformResult {
  if (a.op !== 'insert') return { op: a, ok: true };
  return {
    op: { ...a, op: 'update' },
    ok: true,
    notice: `insert ${JSON.stringify(a.path)} became an update: key set by concurrent ${describe(b)}`,
  };
}

/** Hands out a text edit piece by piece, splitting retains and deletes; inserts are never split. */
class TextReader {
  private i = 0;
  private used = 0;
  constructor(private readonly comps: readonly TextComponent[]) {}

  peekInsert(): boolean {
    const c = this.comps[this.i];
    return c !== undefined && typeof c.insert === 'string' && c.insert !== '';
  }

  /** The next piece: a whole insert, or at most n code points of a retain or delete (n < 0: no limit). */
  next(n: number): TextComponent | null {
    const c = this.comps[this.i];
    if (c === undefined) return null;
    if (typeof c.insert === 'string' && c.insert !== '') {
      this.i++;
      return { insert: c.insert };
    }
    const left = (c.retain ?? 0) + (c.delete ?? 0) - this.used;
    let take = n;
    if (take < 0 || take >= left) {
      take = left;
      this.i++;
      this.used = 0;
    } else {
      this.used += take;
    }
    return (c.retain ?? 0) > 0 ? { retain: take } : { delete: take };
  }
}

function size(c: TextComponent): number {
  return (c.retain ?? 0) + (c.delete ?? 0);
}

/**
 * Transforms the text edit `a` against `b` (both written for the same
 * string) so that it applies after `b`. When both insert at the same
 * position, `a`'s text goes first if `aWins`. Overlapping deletes remove
 * the text once; text `a` inserted inside a range `b` deleted survives.
 */
export function transformText(a: readonly TextComponent[], b: readonly TextComponent[], aWins: boolean): TextComponent[] {
  const out: TextComponent[] = [];
  const r = new TextReader(a);
  for (const c of b) {
    if (typeof c.insert === 'string' && c.insert !== '') {
      if (aWins && r.peekInsert()) out.push(r.next(-1) as TextComponent);
      out.push({ retain: cpLen(c.insert) });
    } else if ((c.retain ?? 0) > 0) {
      for (let n = c.retain ?? 0; n > 0; ) {
        const p = r.next(n);
        if (p === null) break;
        out.push(p);
        n -= size(p);
      }
    } else {
      for (let n = c.delete ?? 0; n > 0; ) {
        const p = r.next(n);
        if (p === null) break;
        if (p.insert !== undefined) out.push(p);
        n -= size(p);
      }
    }
  }
  for (let p = r.next(-1); p !== null; p = r.next(-1)) out.push(p);
  return normalizeText(out);
}

/** Merges neighbouring components of one kind, puts an insert ahead of a delete at the same position and drops trailing retains. */
export function normalizeText(comps: readonly TextComponent[]): TextComponent[] {
  const out: TextComponent[] = [];
  for (const c of comps) appendText(out, c);
  while (out.length > 0 && (out[out.length - 1]?.retain ?? 0) > 0) out.pop();
  return out;
}

function appendText(out: TextComponent[], c: TextComponent): void {
  const ins = typeof c.insert === 'string' && c.insert !== '';
  if ((c.retain ?? 0) <= 0 && (c.delete ?? 0) <= 0 && !ins) return;
  const last = out[out.length - 1];
  if (last === undefined) {
    out.push({ ...c });
    return;
  }
  if ((c.retain ?? 0) > 0 && (last.retain ?? 0) > 0) last.retain = (last.retain ?? 0) + (c.retain ?? 0);
  else if ((c.delete ?? 0) > 0 && (last.delete ?? 0) > 0) last.delete = (last.delete ?? 0) + (c.delete ?? 0);
  else if (ins && typeof last.insert === 'string' && last.insert !== '') last.insert += c.insert as string;
  else if (ins && (last.delete ?? 0) > 0) {
    const del = out.pop() as TextComponent;
    appendText(out, c);
    out.push(del);
  } else out.push({ ...c });
}

/**
 * A text edit that turns `before` into `after`: the common prefix and
 * suffix kept, the middle replaced. Used for a change event that carries no
 * `op`; where the edit is ambiguous (a repeated character) it may place the
 * edit elsewhere than its author did, with the same resulting string.
 */
export function textDiff(before: string, after: string): TextComponent[] {
  const x = Array.from(before);
  const y = Array.from(after);
  let p = 0;
  while (p < x.length && p < y.length && x[p] === y[p]) p++;
  let s = 0;
  while (s < x.length - p && s < y.length - p && x[x.length - 1 - s] === y[y.length - 1 - s]) s++;
  const out: TextComponent[] = [];
  if (p > 0) out.push({ retain: p });
  const ins = y.slice(p, y.length - s).join('');
  if (ins !== '') out.push({ insert: ins });
  if (x.length - p - s > 0) out.push({ delete: x.length - p - s });
  return normalizeText(out);
}
