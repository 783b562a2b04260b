import { createRoot } from 'react-dom/client';
import { realtimeLanguage, type RealtimeLanguage } from '@omnisales/rtcollab-client/ui';
import { App, type Session } from './App.js';
import { fixtureData, FIXTURE_NOW } from './fixture.js';

const LANG_KEY = 'rtcollab.lang';

function sessionFromUrl(q: URLSearchParams): Session | null {
  const userId = q.get('user');
  if (userId === null || userId === '') return null;
  const username = q.get('name') ?? userId;
  const orderId = q.get('order') ?? '1001';
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const base = q.get('ws') ?? `${proto}//${location.host}/ws`;
  const wsUrl = `${base}?userId=${encodeURIComponent(userId)}&username=${encodeURIComponent(username)}`;
  return { userId, username, orderId, wsUrl };
}

function storedLanguage(): string | null {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

/** The language: ?lang= first, then the last choice (storage), then the browser's. */
function initialLanguage(q: URLSearchParams): RealtimeLanguage {
  return realtimeLanguage(q.get('lang') ?? storedLanguage() ?? navigator.language);
}

/** Keeps the choice in the URL (reload, shared links) and in storage (the next visit). */
function keepLanguage(lang: RealtimeLanguage): void {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // Storage may be off; the URL still keeps it.
  }
  const url = new URL(location.href);
  if (url.searchParams.get('lang') !== lang) {
    url.searchParams.set('lang', lang);
    history.replaceState(history.state, '', url);
  }
}

const q = new URLSearchParams(location.search);
const fixture = q.has('fixture');
const root = document.getElementById('root');
if (root !== null) {
  createRoot(root).render(
    <App
      session={sessionFromUrl(q)}
      fixture={fixture ? fixtureData() : undefined}
      now={fixture ? () => FIXTURE_NOW : undefined}
      lang={initialLanguage(q)}
      onLanguageChange={keepLanguage}
    />,
  );
}
