import { createContext, useContext, useMemo, type ReactElement, type ReactNode } from 'react';
import en from '../locales/en/realtime.json';
import th from '../locales/th/realtime.json';

/** Languages the demo ships; strings live under the realtime namespace (locales/<lang>/realtime.json). */
export type Language = 'en' | 'th';

const catalogs: Record<Language, unknown> = { en, th };

function lookup(catalog: unknown, key: string): string | undefined {
  let cur: unknown = catalog;
  for (const part of key.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string' ? cur : undefined;
}

export type Translate = (key: string, values?: Record<string, string | number>) => string;

/** Translates `key` (e.g. `presence.title`, i.e. realtime.presence.title), falling back to English, then to the key. */
export function translator(lang: Language): Translate {
  return (key, values) => {
    const k = key.startsWith('realtime.') ? key.slice('realtime.'.length) : key;
    const text = lookup(catalogs[lang], k) ?? lookup(catalogs.en, k) ?? key;
    return text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => String(values?.[name] ?? ''));
  };
}

const I18nContext = createContext<{ lang: Language; t: Translate }>({ lang: 'en', t: translator('en') });

export function I18nProvider({ lang, children }: { lang: Language; children: ReactNode }): ReactElement {
  const value = useMemo(() => ({ lang, t: translator(lang) }), [lang]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

/** The seed's `useTranslation('realtime')`, reduced to what the demo needs. */
export function useTranslation(): { t: Translate; lang: Language } {
  return useContext(I18nContext);
}

/** A translated error message for a RealtimeError code. */
export function errorText(t: Translate, code: string): string {
  const s = t(`errors.${code}`);
  return s === `errors.${code}` ? t('errors.unknown', { code }) : s;
}

/** "just now", "5 min ago", ... */
export function relativeTime(t: Translate, when: Date | string, now: number): string {
  const s = Math.max(0, Math.round((now - new Date(when).getTime()) / 1000));
  if (s < 10) return t('activity.justNow');
  if (s < 60) return t('activity.secondsAgo', { count: s });
  if (s < 3600) return t('activity.minutesAgo', { count: Math.floor(s / 60) });
  return t('activity.hoursAgo', { count: Math.floor(s / 3600) });
}
