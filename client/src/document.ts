/**
 * Entity documents on the client: JSON objects addressed by the same paths
 * the server uses (`customer.name`, `items[0].qty`, `["odd.key"]`), and
 * the replay of accepted changes onto them.
 *
 * Documents are immutable values: every function returns a new object and
 * shares the untouched subtrees.
 */

export type DocumentValue = Record<string, unknown>;

/** One step of a path: an object key or a list index. */
export type PathSegment = string | number;

/** Parses a path; throws a TypeError on a malformed one. `""` and `"$"` name the root. */
export function parsePath(path: string): PathSegment[] {
  let rest = path;
  if (rest === '' || rest === '$') return [];
  if (rest.startsWith('$.') || rest.startsWith('$[')) rest = rest.slice(rest[1] === '.' ? 2 : 1);
  const out: PathSegment[] = [];
  let i = 0;
  const plain = (from: number): number => {
    let j = from;
    while (j < rest.length && rest[j] !== '.' && rest[j] !== '[' && rest[j] !== ']') j++;
    return j;
  };
  while (i < rest.length) {
    const c = rest[i];
    if (c === '[') {
      const close = rest[i + 1] === '"' ? findQuoteEnd(rest, i + 2) + 1 : rest.indexOf(']', i);
      if (close <= i || rest[close] !== ']') throw new TypeError(`bad path ${JSON.stringify(path)}`);
      const inner = rest.slice(i + 1, close);
      if (inner.startsWith('"')) out.push(JSON.parse(inner) as string);
      else if (/^\d+$/.test(inner)) out.push(Number(inner));
      else throw new TypeError(`bad path ${JSON.stringify(path)}`);
      i = close + 1;
    } else if (c === '.') {
      if (out.length === 0) throw new TypeError(`bad path ${JSON.stringify(path)}`);
      const end = plain(i + 1);
      if (end === i + 1) throw new TypeError(`bad path ${JSON.stringify(path)}`);
      out.push(rest.slice(i + 1, end));
      i = end;
    } else {
      if (out.length > 0) throw new TypeError(`bad path ${JSON.stringify(path)}`);
      const end = plain(i);
      out.push(rest.slice(i, end));
      i = end;
    }
  }
  return out;
}

function findQuoteEnd(s: string, from: number): number {
  for (let j = from; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === '"') return j;
  }
  return -1;
}

/** The value at `path`, or undefined. */
export function getPath(doc: unknown, path: string | PathSegment[]): unknown {
  const segs = typeof path === 'string' ? parsePath(path) : path;
  let cur: unknown = doc;
  for (const s of segs) {
    if (typeof s === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[s];
    } else {
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
      cur = (cur as Record<string, unknown>)[s];
    }
  }
  return cur;
}

type Edit = { kind: 'set'; value: unknown } | { kind: 'insert'; value: unknown } | { kind: 'delete' };

function edit(node: unknown, segs: PathSegment[], d: number, e: Edit): unknown {
  const s = segs[d] as PathSegment;
  const last = d === segs.length - 1;
  if (typeof s === 'number') {
    const list = Array.isArray(node) ? node.slice() : [];
    if (last) {
      if (e.kind === 'delete') list.splice(s, 1);
      else if (e.kind === 'insert') list.splice(s, 0, e.value);
      else list[s] = e.value;
      return list;
    }
    list[s] = edit(list[s], segs, d + 1, e);
    return list;
  }
  const obj: Record<string, unknown> =
    typeof node === 'object' && node !== null && !Array.isArray(node) ? { ...(node as Record<string, unknown>) } : {};
  if (last) {
    if (e.kind === 'delete') delete obj[s];
    else obj[s] = e.value;
    return obj;
  }
  obj[s] = edit(obj[s], segs, d + 1, e);
  return obj;
}

/** `doc` with `value` at `path` (missing parents are created). */
export function setPath<T extends DocumentValue>(doc: T, path: string, value: unknown): T {
  const segs = parsePath(path);
  if (segs.length === 0) return (value ?? {}) as T;
  return edit(doc, segs, 0, { kind: 'set', value }) as T;
}

/** `doc` without the key or list element at `path`. */
export function deletePath<T extends DocumentValue>(doc: T, path: string): T {
  const segs = parsePath(path);
  if (segs.length === 0) return {} as T;
  return edit(doc, segs, 0, { kind: 'delete' }) as T;
}

/** The parts of an accepted change that replay needs. */
export interface ReplayableChange {
  operation: string;
  path: string;
  after?: unknown;
}

/**
 * Replays an accepted change. The server sends, with every change, the
 * value at its path after it (for move, the list; for increment, the sum;
 * for text, the new string), so replay only sets, inserts or deletes.
 */
export function applyChange<T extends DocumentValue>(doc: T, change: ReplayableChange): T {
  const segs = parsePath(change.path);
  if (segs.length === 0) return doc;
  const lastIsIndex = typeof segs[segs.length - 1] === 'number';
  switch (change.operation) {
    case 'delete':
      return edit(doc, segs, 0, { kind: 'delete' }) as T;
    case 'insert':
      return edit(doc, segs, 0, lastIsIndex ? { kind: 'insert', value: change.after } : { kind: 'set', value: change.after }) as T;
    default:
      return edit(doc, segs, 0, { kind: 'set', value: change.after }) as T;
  }
}

/** A change of this client that the server has not accepted yet. */
export interface LocalChange extends ReplayableChange {
  /** move: list indexes. */
  from?: number | undefined;
  to?: number | undefined;
  /** increment: the amount, a number or a decimal string. */
  delta?: number | string | undefined;
  /** text: retain / insert / delete components, counted in code points. */
  text?: readonly { retain?: number; insert?: string; delete?: number }[] | undefined;
}

/**
 * Shows a change the server has not accepted yet. Insert, update and
 * delete replay as applyChange does; for move, increment and text, which
 * carry no value after them, the value is worked out from `doc` as the
 * server would (a sum in floating point, text in code points). A change
 * that does not apply to `doc` (no list or string there, an index or a
 * text range out of bounds) leaves it as it is: the server will refuse or
 * transform it, and its answer shows.
 */
export function applyLocalChange<T extends DocumentValue>(doc: T, change: LocalChange): T {
  switch (change.operation) {
    case 'move':
    case 'increment':
    case 'text': {
      const after = localAfter(getPath(doc, change.path), change);
      return after === undefined ? doc : applyChange(doc, { operation: 'update', path: change.path, after });
    }
    default:
      return applyChange(doc, change);
  }
}

/** The value a move, increment or text change leaves in place of `cur`; undefined when it does not apply. */
function localAfter(cur: unknown, c: LocalChange): unknown {
  switch (c.operation) {
    case 'increment': {
      const base = cur === undefined ? 0 : cur;
      const delta = typeof c.delta === 'string' ? Number(c.delta) : c.delta;
      if (typeof base !== 'number' || typeof delta !== 'number') return undefined;
      const sum = base + delta;
      return Number.isFinite(sum) ? sum : undefined;
    }
    case 'move': {
      const { from, to } = c;
      if (!Array.isArray(cur) || !Number.isInteger(from) || !Number.isInteger(to)) return undefined;
      const f = from as number;
      const t = to as number;
      if (f < 0 || t < 0 || f >= cur.length || t >= cur.length) return undefined;
      const out = cur.slice();
      const [x] = out.splice(f, 1);
      out.splice(t, 0, x);
      return out;
    }
    case 'text': {
      if (typeof cur !== 'string' || !Array.isArray(c.text)) return undefined;
      const cps = Array.from(cur);
      let pos = 0;
      let out = '';
      for (const comp of c.text) {
        if (typeof comp.insert === 'string' && comp.insert !== '') {
          out += comp.insert;
          continue;
        }
        const n = comp.retain ?? comp.delete;
        if (n === undefined || !Number.isInteger(n) || n < 1 || n > cps.length - pos) return undefined;
        if (comp.retain !== undefined) out += cps.slice(pos, pos + n).join('');
        pos += n;
      }
      return out + cps.slice(pos).join('');
    }
  }
  return undefined;
}

/** Formats segments as a path (`a.b[2]["odd.key"]`). */
export function formatPath(segs: readonly PathSegment[]): string {
  let out = '';
  segs.forEach((s, i) => {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(s)) out += i === 0 ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  });
  return out;
}

/**
 * The server sets a key only inside an existing object. When parents of
 * `path` are missing from `doc`, this returns the change that creates them:
 * the path of the highest missing object key and the nested value to put
 * there. Otherwise (or when a missing step is a list index) it returns the
 * input unchanged.
 */
export function liftToExistingParent(doc: unknown, path: string, value: unknown): { path: string; value: unknown } {
  let segs: PathSegment[];
  try {
    segs = parsePath(path);
  } catch {
    return { path, value };
  }
  let cur: unknown = doc;
  for (let i = 0; i < segs.length - 1; i++) {
    const s = segs[i] as PathSegment;
    const next = getPath(cur, [s]);
    if (typeof next === 'object' && next !== null) {
      cur = next;
      continue;
    }
    if (typeof s === 'number') return { path, value };
    let nested: unknown = value;
    for (let j = segs.length - 1; j > i; j--) {
      const k = segs[j] as PathSegment;
      if (typeof k === 'number') return { path, value };
      nested = { [k]: nested };
    }
    return { path: formatPath(segs.slice(0, i + 1)), value: nested };
  }
  return { path, value };
}
