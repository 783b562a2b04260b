import { createRoot } from 'react-dom/client';
import { App, type Session } from './App.js';

function sessionFromUrl(): Session | null {
  const q = new URLSearchParams(location.search);
  const userId = q.get('user');
  if (userId === null || userId === '') return null;
  const username = q.get('name') ?? userId;
  const lang = q.get('lang') === 'th' ? 'th' : 'en';
  const orderId = q.get('order') ?? '1001';
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const base = q.get('ws') ?? `${proto}//${location.host}/ws`;
  const wsUrl = `${base}?userId=${encodeURIComponent(userId)}&username=${encodeURIComponent(username)}`;
  return { userId, username, orderId, lang, wsUrl };
}

const root = document.getElementById('root');
if (root !== null) createRoot(root).render(<App session={sessionFromUrl()} />);
