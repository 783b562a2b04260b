import type { RealtimeI18n } from './i18n.js';

/**
 * A stored number in the language's format with every digit it has: as
 * many significant digits as the shortest decimal that reads back as the
 * same number (what `String(n)` shows, at most 17), so 0.1004 is not shown
 * as 0.1 nor 0.1 as 0.10000000000000001; in scientific notation where
 * `String(n)` uses an exponent (from 1e21, below 1e-6), so 1e300 and
 * 5e-324 stay short and exact.
 */
export function showNumber(i18n: RealtimeI18n, n: number): string {
  if (!Number.isFinite(n)) return i18n.formatNumber(n);
  let digits = 1;
  while (digits < 17 && Number(n.toPrecision(digits)) !== n) digits++;
  const abs = Math.abs(n);
  const options: Intl.NumberFormatOptions = { maximumSignificantDigits: digits };
  if (abs !== 0 && (abs >= 1e21 || abs < 1e-6)) options.notation = 'scientific';
  return i18n.formatNumber(n, options);
}

/** A value of a change, shown in one line: strings as they are, numbers in the language's format (every digit), the rest as JSON. */
export function showValue(i18n: RealtimeI18n, v: unknown): string {
  if (v === undefined || v === null || v === '') return i18n.t('activity.emptyValue');
  if (typeof v === 'number') return showNumber(i18n, v);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** Names a field by its path; `label` is the application's mapping, the path itself otherwise. */
export type FieldLabel = (path: string) => string | undefined;

export function fieldName(path: string, label?: FieldLabel): string {
  return label?.(path) ?? path;
}

/** An entity's name in the language: a known type with its id ("Order #1001", "คำสั่งซื้อ #1001"), else its stored name. */
export function entityName(i18n: RealtimeI18n, entity: { type: string; id: string; name?: string }): string {
  const key = `entities.${entity.type}`;
  if (i18n.t(key, { id: entity.id }) !== key) return i18n.t(key, { id: entity.id });
  return entity.name || `${entity.type} ${entity.id}`;
}

/** The name of an entity type in the language (plural, for filters). */
export function entityTypeName(i18n: RealtimeI18n, type: string): string {
  const key = `entities.types.${type}`;
  const s = i18n.t(key);
  return s === key ? type : s;
}

/**
 * Presence activity that every reader sees in their own language: the
 * sender sets `presenceActivity('editingOrder', { id })`, and
 * PresenceIndicator shows realtime.presence.activities.editingOrder. Any
 * other string is shown as it is.
 */
export function presenceActivity(key: string, values: Record<string, string | number> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) q.set(k, String(v));
  const qs = q.toString();
  return `rt:${key}${qs === '' ? '' : `?${qs}`}`;
}

/** The text of a presence activity (see presenceActivity). */
export function activityText(i18n: RealtimeI18n, activity: string): string {
  if (!activity.startsWith('rt:')) return activity;
  const [key = '', qs = ''] = activity.slice(3).split('?', 2);
  const values: Record<string, string> = {};
  new URLSearchParams(qs).forEach((v, k) => (values[k] = v));
  const full = `presence.activities.${key}`;
  const s = i18n.t(full, values);
  return s === full ? key : s;
}

/** A presence location in the language: known pages by name, `<type>-<id>` sections as the entity. */
export function locationText(i18n: RealtimeI18n, loc: { page: string; section?: string | undefined }): string {
  const pageKey = `presence.pages.${loc.page}`;
  const page = i18n.t(pageKey) === pageKey ? loc.page : i18n.t(pageKey);
  if (!loc.section) return page;
  const m = /^([a-z]+)-(.+)$/.exec(loc.section);
  const section = m ? entityName(i18n, { type: m[1] as string, id: m[2] as string, name: loc.section }) : loc.section;
  return `${page} › ${section}`;
}

type FieldChange = { field: string; before: unknown; after: unknown };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The changes of an entry field by field. A change that set a whole object
 * (the SDK sets the nearest existing parent when a field's parents are
 * missing) lists each field it set, with the old value where the object had
 * one. At most `max` fields.
 */
export function leafChanges(changes: readonly FieldChange[], max = 20): FieldChange[] {
  const out: FieldChange[] = [];
  const walk = (field: string, before: unknown, after: unknown, depth: number): void => {
    if (out.length >= max) return;
    if (depth < 4 && isPlainObject(after) && (before === undefined || before === null || isPlainObject(before)) && Object.keys(after).length > 0) {
      for (const [k, v] of Object.entries(after)) walk(field === '' ? k : `${field}.${k}`, isPlainObject(before) ? before[k] : undefined, v, depth + 1);
      return;
    }
    out.push({ field, before, after });
  };
  for (const c of changes) walk(c.field, c.before, c.after, 0);
  return out;
}
