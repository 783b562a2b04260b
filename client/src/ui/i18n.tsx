import { createContext, useContext, useMemo, type ReactElement, type ReactNode } from 'react';
import { realtimeResources, type Messages, type RealtimeLanguage } from './locales.js';

/** Values put into a string's {{name}} slots. */
export type TranslateValues = Record<string, string | number>;

/** Translates a realtime.* key (with or without the `realtime.` prefix). */
export type Translate = (key: string, values?: TranslateValues) => string;

/**
 * A translate function from elsewhere, e.g. react-i18next's
 * `useTranslation('realtime').t`. It gets the key without `realtime.` and the
 * values, with i18next's `interpolation: { escapeValue: false }` among them
 * (React escapes what it renders; i18next's own escaping would show a name
 * such as "Tom & Jerry" as "Tom &amp; Jerry"). When it returns the key itself
 * (i18next's answer for a key it does not know) the package's own catalog
 * answers instead.
 */
export type ExternalTranslate = (key: string, values?: ExternalTranslateValues) => string;

/** The values an ExternalTranslate gets: a string's {{name}} slots, and i18next's interpolation options. */
export interface ExternalTranslateValues {
  [name: string]: string | number | { escapeValue: boolean };
}

export interface RealtimeI18n {
  /** The language in use: 'en' or 'th' (any other falls back to 'en'). */
  lang: RealtimeLanguage;
  /** The BCP 47 locale handed to Intl (en-US, th-TH). */
  locale: string;
  t: Translate;
  /** A number in the language's format (grouping, digits). */
  formatNumber: (n: number, options?: Intl.NumberFormatOptions) => string;
  /** A date and time in the language's format (Thai: Buddhist era). */
  formatDate: (when: Date | string | number, options?: Intl.DateTimeFormatOptions) => string;
  /** "5 minutes ago" through Intl.RelativeTimeFormat, against `now()`. */
  relativeTime: (when: Date | string | number) => string;
  /** The clock relative times are measured against (ms since the epoch). */
  now: () => number;
}

const LOCALES: Record<RealtimeLanguage, string> = { en: 'en-US', th: 'th-TH' };

/** Narrows any language tag (th, th-TH, en-GB, ...) to a shipped language. */
export function realtimeLanguage(tag: string | null | undefined): RealtimeLanguage {
  return typeof tag === 'string' && tag.toLowerCase().startsWith('th') ? 'th' : 'en';
}

function lookup(catalog: Messages | undefined, key: string): string | undefined {
  let cur: string | Messages | undefined = catalog;
  for (const part of key.split('.')) {
    if (cur === undefined || typeof cur === 'string') return undefined;
    cur = cur[part];
  }
  return typeof cur === 'string' ? cur : undefined;
}

/** Fills {{name}} slots. */
export function interpolate(text: string, values?: TranslateValues): string {
  return text.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => String(values?.[name] ?? ''));
}

function stripPrefix(key: string): string {
  return key.startsWith('realtime.') ? key.slice('realtime.'.length) : key;
}

/**
 * A translator over the package's catalogs plus `messages` (an
 * application's own strings, looked up first), falling back to English and
 * then to the key.
 */
export function createTranslator(lang: RealtimeLanguage, messages?: Partial<Record<RealtimeLanguage, Messages>>, external?: ExternalTranslate): Translate {
  return (key, values) => {
    const k = stripPrefix(key);
    if (external !== undefined) {
      const s = external(k, values === undefined ? undefined : { ...values, interpolation: { escapeValue: false } });
      if (typeof s === 'string' && s !== k && s !== `realtime.${k}` && s !== '') return s;
    }
    const text = lookup(messages?.[lang], k) ?? lookup(realtimeResources[lang], k) ?? lookup(messages?.en, k) ?? lookup(realtimeResources.en, k);
    return text === undefined ? key : interpolate(text, values);
  };
}

/** Whether `key` has a string in the catalogs (used to translate known page names, entity types, ...). */
export function hasKey(t: Translate, key: string): boolean {
  return t(key) !== key;
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

function toTime(when: Date | string | number): number {
  return when instanceof Date ? when.getTime() : typeof when === 'number' ? when : new Date(when).getTime();
}

/** The ISO form of a time for <time dateTime>, or undefined when it is not a valid time. */
export function isoTime(when: Date | string | number): string | undefined {
  const at = toTime(when);
  return Number.isFinite(at) ? new Date(at).toISOString() : undefined;
}

/** Builds the i18n value a provider hands down. */
export function createRealtimeI18n(options: {
  lang?: string | undefined;
  messages?: Partial<Record<RealtimeLanguage, Messages>> | undefined;
  t?: ExternalTranslate | undefined;
  now?: (() => number) | undefined;
}): RealtimeI18n {
  const lang = realtimeLanguage(options.lang);
  const locale = LOCALES[lang];
  const t = createTranslator(lang, options.messages, options.t);
  const now = options.now ?? Date.now;
  const numbers = new Intl.NumberFormat(locale);
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto', style: 'long' });
  return {
    lang,
    locale,
    t,
    now,
    formatNumber: (n, o) => (o === undefined ? numbers.format(n) : new Intl.NumberFormat(locale, o).format(n)),
    formatDate: (when, o) => {
      const at = toTime(when);
      return Number.isFinite(at) ? new Intl.DateTimeFormat(locale, o ?? { dateStyle: 'medium', timeStyle: 'short' }).format(at) : '';
    },
    relativeTime: (when) => {
      const at = toTime(when);
      if (!Number.isFinite(at)) return '';
      const diff = Math.round((at - now()) / 1000);
      if (Math.abs(diff) < 10) return t('activity.justNow');
      for (const [unit, secs] of UNITS) {
        if (Math.abs(diff) >= secs) return rtf.format(Math.trunc(diff / secs), unit);
      }
      return rtf.format(diff, 'second');
    },
  };
}

const defaultI18n = createRealtimeI18n({ lang: 'en' });
const I18nContext = createContext<RealtimeI18n>(defaultI18n);

export interface RealtimeI18nProviderProps {
  /** Language tag; 'th…' picks Thai, anything else English. Default 'en'. */
  lang?: string | undefined;
  /**
   * react-i18next's `t` for the realtime namespace, when the application
   * uses it: `const { t, i18n } = useTranslation('realtime')`, then
   * `<RealtimeI18nProvider t={t} lang={i18n.language}>`. Keys it does not
   * know come from the package's catalogs.
   */
  t?: ExternalTranslate | undefined;
  /** The application's own strings by language, looked up before the package's. */
  messages?: Partial<Record<RealtimeLanguage, Messages>> | undefined;
  /** Clock for relative times; default Date.now. */
  now?: (() => number) | undefined;
  children?: ReactNode;
}

/** Hands the language, translations and Intl formats to the realtime components below it. Without it they speak English. */
export function RealtimeI18nProvider({ lang, t, messages, now, children }: RealtimeI18nProviderProps): ReactElement {
  const value = useMemo(() => createRealtimeI18n({ lang, t, messages, now }), [lang, t, messages, now]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

/** The realtime components' i18n: `t` for realtime.* keys and the Intl formats. */
export function useRealtimeI18n(): RealtimeI18n {
  return useContext(I18nContext);
}

/** A translated message for a RealtimeError code. */
export function errorText(t: Translate, code: string): string {
  const key = `errors.${code}`;
  return hasKey(t, key) ? t(key) : t('errors.unknown', { code });
}

/** The stable code of an error from the SDK (INTERNAL when it has none). */
export function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'INTERNAL';
}
