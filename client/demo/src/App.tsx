import { useEffect, useMemo, useState, type ReactElement } from 'react';
import type { ActivityLog, WebSocketMessage } from '../../src/index.js';
import {
  useRealtimeSync,
  usePresence,
  useRoomPresence,
  useOnlineStatus,
  useWebSocket,
  useWebSocketChannel,
} from '../../src/react/index.js';
import { ActivityFeed } from './components/ActivityFeed.js';
import { CollaborationPanel } from './components/CollaborationPanel.js';
import { OrderUpdates } from './components/OrderUpdates.js';
import { PresenceIndicator } from './components/PresenceIndicator.js';
import { I18nProvider, useTranslation, type Language } from './i18n.js';
import { OrderEditor } from './OrderEditor.js';

export interface Session {
  userId: string;
  username: string;
  orderId: string;
  lang: Language;
  /** WebSocket URL; default: this page's host, path /ws. */
  wsUrl: string;
}

function StatusBar({ ws, lang, onLanguage }: { ws: ReturnType<typeof useWebSocket>; lang: Language; onLanguage: () => void }): ReactElement {
  const { t } = useTranslation();
  const online = useOnlineStatus(ws);
  return (
    <div
      className={`status-bar status-${ws.status}`}
      data-testid="connection-status"
      data-status={ws.status}
      data-connection-id={ws.session?.connectionId ?? ''}
    >
      <span className="dot" />
      <span>{t(`websocket.status.${ws.status}`)}</span>
      {ws.latency !== null && <span className="muted" data-testid="latency">{t('websocket.latency', { ms: Math.round(ws.latency) })}</span>}
      {ws.queuedMessages > 0 && <span className="muted">{t('websocket.queued', { count: ws.queuedMessages })}</span>}
      {!online.browserOnline && <span className="badge status-offline">{t('presence.offline')}</span>}
      {ws.session && <span className="muted small">{t('websocket.connectionId', { id: ws.session.connectionId })}</span>}
      <button type="button" className="link lang" onClick={onLanguage} data-testid="language" lang={lang === 'en' ? 'th' : 'en'}>
        {t('demo.language')}
      </button>
    </div>
  );
}

function Workspace({ session, onLanguage }: { session: Session; onLanguage: () => void }): ReactElement {
  const { t } = useTranslation();
  const { userId, username, orderId } = session;
  const ws = useWebSocket({
    url: session.wsUrl,
    autoConnect: true,
    reconnectInterval: 500,
    maxReconnectInterval: 3000,
  });
  const sync = useRealtimeSync({
    wsClient: ws,
    userId,
    username,
    entityType: 'order',
    entityId: orderId,
    conflictStrategy: 'lock-based',
    autoStart: true,
  });
  const presence = usePresence({ wsClient: ws, userId, username, initialPage: 'orders', initialSection: `order-${orderId}` });
  const room = useRoomPresence(ws, userId, username, `order-${orderId}`);

  useEffect(() => {
    presence.setActivity(sync.lockedByMe ? `Editing order #${orderId}` : `Viewing order #${orderId}`);
  }, [presence.setActivity, sync.lockedByMe, orderId]); // eslint-disable-line react-hooks/exhaustive-deps

  // The activity feed: the latest entries, then the live ones.
  const [activities, setActivities] = useState<ActivityLog[]>([]);
  useEffect(() => {
    if (!ws.connected) return;
    ws.request<'activity.list', { entries: ActivityLog[] }>('activity.list', { payload: { limit: 50 } }).then(
      (ack) =>
        setActivities((prev) => {
          const seen = new Set(ack.entries.map((a) => a.id));
          return [...prev.filter((a) => !seen.has(a.id)), ...ack.entries]
            .sort((a, b) => String(b.timestamp).localeCompare(String(a.timestamp)))
            .slice(0, 100);
        }),
      () => {},
    );
  }, [ws.connected]); // eslint-disable-line react-hooks/exhaustive-deps
  useWebSocketChannel(ws, 'activity-feed', (m: WebSocketMessage) => {
    if (m.type !== 'activity' || typeof m.payload !== 'object' || m.payload === null) return;
    const a = m.payload as ActivityLog;
    setActivities((prev) => (prev.some((x) => x.id === a.id) ? prev : [a, ...prev].slice(0, 100)));
  });
  // Record that this user opened the order, once per page.
  useEffect(() => {
    ws.request('activity', {
      payload: { action: 'viewed', entity: { type: 'order', id: orderId, name: `Order #${orderId}` } },
    }).catch(() => {});
  }, [orderId]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <div className="app">
      <header className="topbar">
        <strong>{t('demo.title')}</strong>
        <PresenceIndicator users={room.usersInRoom} currentUserId={userId} compact />
        <span className="muted small" data-testid="room-count">
          {t('presence.viewing', { count: room.userCount })}
        </span>
        <span className="spacer" />
        <StatusBar ws={ws} lang={session.lang} onLanguage={onLanguage} />
      </header>
      <main className="layout">
        <section className="panel editor-panel">
          <OrderEditor orderId={orderId} sync={sync} room={room} />
        </section>
        <aside className="side">
          <CollaborationPanel
            activeUsers={presence.activeUsers}
            currentUserId={userId}
            lock={sync.lock}
            isLocked={sync.isLocked}
            lockedByMe={sync.lockedByMe}
            onAcquireLock={sync.acquireLock}
            onReleaseLock={sync.releaseLock}
            comments={sync.comments}
            onAddComment={sync.addComment}
            onResolveComment={sync.resolveComment}
            changeHistory={sync.changeHistory}
            onUndoChange={sync.undoChange}
            conflicts={sync.conflicts}
            onResolveConflict={sync.resolveConflict}
            defaultTab="collaborators"
          />
          <section className="panel">
            <h2>{t('activity.title')}</h2>
            <ActivityFeed activities={activities} maxItems={30} compact />
          </section>
          <OrderUpdates client={ws.client} />
        </aside>
      </main>
    </div>
  );
}

const USERS = [
  { userId: 'ann', username: 'Ann Srisuk' },
  { userId: 'bob', username: 'Bob Chaiyo' },
  { userId: 'chai', username: 'Chai Wongsa' },
];

function SignIn({ lang }: { lang: Language }): ReactElement {
  const { t } = useTranslation();
  return (
    <div className="signin panel">
      <h1>{t('demo.title')}</h1>
      <p>{t('demo.signInAs')}</p>
      <ul>
        {USERS.map((u) => (
          <li key={u.userId}>
            <a href={`?user=${u.userId}&name=${encodeURIComponent(u.username)}&order=1001&lang=${lang}`} target="_blank" rel="noreferrer">
              {u.username}
            </a>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function App({ session }: { session: Session | null }): ReactElement {
  const initial: Language = session?.lang ?? 'en';
  const [lang, setLang] = useState<Language>(initial);
  const toggle = useMemo(() => () => setLang((l) => (l === 'en' ? 'th' : 'en')), []);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  return (
    <I18nProvider lang={lang}>{session === null ? <SignIn lang={lang} /> : <Workspace session={session} onLanguage={toggle} />}</I18nProvider>
  );
}
