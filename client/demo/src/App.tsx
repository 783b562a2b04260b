import { useCallback, useEffect, useState, type ReactElement, type ReactNode } from 'react';
import type { ActivityLog, CursorPosition, PresenceData, WebSocketMessage } from '@omnisales/rtcollab-client';
import { useRealtimeSync, usePresence, useRoomPresence, useOnlineStatus, useWebSocket, useWebSocketChannel, type UseRealtimeSyncResult } from '@omnisales/rtcollab-client/react';
import {
  ActivityFeed,
  CollaborationPanel,
  ConnectionStatus,
  PresenceIndicator,
  RealtimeI18nProvider,
  RealtimeStyles,
  presenceActivity,
  useRealtimeI18n,
  type RealtimeLanguage,
} from '@omnisales/rtcollab-client/ui';
import { demoMessages } from './messages.js';
import { OrderEditor, orderFieldLabel, type OrderSync } from './OrderEditor.js';
import { OrderUpdates } from './components/OrderUpdates.js';

export interface Session {
  userId: string;
  username: string;
  orderId: string;
  /** WebSocket URL; default: this page's host, path /ws. */
  wsUrl: string;
}

/** What the workspace shows; the live page fills it from the hooks, the fixture page from fixed data. */
export interface WorkspaceData {
  userId: string;
  orderId: string;
  connection: { status: string; latency: number | null; queuedMessages: number; connectionId: string | null; browserOnline: boolean };
  /** Show the heartbeat latency (off for screenshots). */
  showLatency: boolean;
  sync: OrderSync & Pick<UseRealtimeSyncResult, 'comments' | 'addComment' | 'resolveComment' | 'changeHistory' | 'undoChange' | 'conflicts' | 'resolveConflict'>;
  room: { usersInRoom: readonly PresenceData[]; userCount: number; cursors: readonly CursorPosition[]; updateCursor: (x: number, y: number) => void };
  activeUsers: readonly PresenceData[];
  activities: readonly ActivityLog[];
  hasMoreActivity: boolean;
  onLoadMoreActivity: () => void;
}

function LanguageButton({ onLanguage }: { onLanguage: () => void }): ReactElement {
  const { t, lang } = useRealtimeI18n();
  // The other language's name, in that language (lang), as its own label.
  return (
    <button type="button" className="rtc-link lang" onClick={onLanguage} data-testid="language" lang={lang === 'en' ? 'th' : 'en'}>
      {t('demo.language')}
    </button>
  );
}

/** The order page: header with presence and connection, the form, the collaboration panel and the order's activity. */
export function WorkspaceView({ data, onLanguage, extra }: { data: WorkspaceData; onLanguage: () => void; extra?: ReactNode }): ReactElement {
  const { t, formatNumber } = useRealtimeI18n();
  const { userId, orderId, sync, room } = data;
  const fieldLabel = useCallback((path: string) => orderFieldLabel(t, path), [t]);
  return (
    <div className="app">
      <header className="topbar">
        <div className="topbar-title">
          <span className="logo" aria-hidden="true" />
          <strong>{t('demo.title')}</strong>
        </div>
        <div className="topbar-presence">
          <PresenceIndicator users={room.usersInRoom} currentUserId={userId} compact />
          <span className="rtc-muted rtc-small" data-testid="room-count">
            {t('presence.viewing', { count: formatNumber(room.userCount) })}
          </span>
        </div>
        <ConnectionStatus {...data.connection} showLatency={data.showLatency}>
          <LanguageButton onLanguage={onLanguage} />
        </ConnectionStatus>
      </header>
      <main className="layout">
        <section className="rtc-panel editor-panel" aria-label={t('entities.order', { id: orderId })}>
          <OrderEditor orderId={orderId} sync={sync} room={room} />
        </section>
        <aside className="side">
          <CollaborationPanel
            activeUsers={data.activeUsers}
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
            fieldLabel={fieldLabel}
          />
          <section className="rtc-panel" aria-labelledby="activity-title">
            <h2 id="activity-title">{t('activity.title')}</h2>
            <ActivityFeed
              activities={data.activities}
              entity={{ type: 'order', id: orderId }}
              maxItems={100}
              pageSize={10}
              compact
              fieldLabel={fieldLabel}
              hasMore={data.hasMoreActivity}
              onLoadMore={data.onLoadMoreActivity}
            />
          </section>
          {extra}
        </aside>
      </main>
    </div>
  );
}

const byNewest = (a: ActivityLog, b: ActivityLog): number => String(b.timestamp).localeCompare(String(a.timestamp));

/** The live page: the hooks against the server. */
function Workspace({ session, onLanguage }: { session: Session; onLanguage: () => void }): ReactElement {
  const { userId, username, orderId } = session;
  const ws = useWebSocket({ url: session.wsUrl, autoConnect: true, reconnectInterval: 500, maxReconnectInterval: 3000 });
  const online = useOnlineStatus(ws);
  const sync = useRealtimeSync({ wsClient: ws, userId, username, entityType: 'order', entityId: orderId, conflictStrategy: 'lock-based', autoStart: true });
  const presence = usePresence({ wsClient: ws, userId, username, initialPage: 'orders', initialSection: `order-${orderId}` });
  const room = useRoomPresence(ws, userId, username, `order-${orderId}`);

  useEffect(() => {
    presence.setActivity(presenceActivity(sync.lockedByMe ? 'editingOrder' : 'viewingOrder', { id: orderId }));
  }, [presence.setActivity, sync.lockedByMe, orderId]); // eslint-disable-line react-hooks/exhaustive-deps

  // The order's activity: a page of the latest entries, older pages on demand, then the live ones.
  // activity-feed carries the whole tenant's entries: only this order's are kept, or edits to
  // other orders would push its own out of the 200 kept.
  const [activities, setActivities] = useState<ActivityLog[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const merge = useCallback(
    (entries: readonly ActivityLog[]) => {
      setActivities((prev) => {
        const seen = new Set(prev.map((a) => a.id));
        const fresh = entries.filter((a) => a.entity?.type === 'order' && a.entity.id === orderId && !seen.has(a.id));
        return fresh.length === 0 ? prev : [...prev, ...fresh].sort(byNewest).slice(0, 200);
      });
    },
    [orderId],
  );
  const load = useCallback(
    (from: string | null) => {
      const payload: Record<string, unknown> = { limit: 50, entityTypes: ['order'], entityIds: [orderId] };
      if (from !== null) payload['cursor'] = from;
      ws.request<'activity.list', { entries: ActivityLog[]; next?: string }>('activity.list', { payload }).then(
        (ack) => {
          merge(ack.entries);
          setCursor(ack.next ?? null);
        },
        () => {},
      );
    },
    [ws, merge, orderId],
  );
  useEffect(() => {
    if (ws.connected) load(null);
  }, [ws.connected]); // eslint-disable-line react-hooks/exhaustive-deps
  useWebSocketChannel(ws, 'activity-feed', (m: WebSocketMessage) => {
    if (m.type !== 'activity' || typeof m.payload !== 'object' || m.payload === null) return;
    merge([m.payload as ActivityLog]);
  });
  // Record that this user opened the order, once per page.
  useEffect(() => {
    ws.request('activity', { payload: { action: 'viewed', entity: { type: 'order', id: orderId, name: `Order #${orderId}` } } }).catch(() => {});
  }, [orderId]); // eslint-disable-line react-hooks/exhaustive-deps

  const data: WorkspaceData = {
    userId,
    orderId,
    connection: {
      status: ws.status,
      latency: ws.latency,
      queuedMessages: ws.queuedMessages,
      connectionId: ws.session?.connectionId ?? null,
      browserOnline: online.browserOnline,
    },
    showLatency: !new URLSearchParams(location.search).has('nolatency'),
    sync,
    room,
    activeUsers: presence.activeUsers,
    activities,
    hasMoreActivity: cursor !== null,
    onLoadMoreActivity: () => {
      if (cursor !== null) load(cursor);
    },
  };
  return <WorkspaceView data={data} onLanguage={onLanguage} extra={<OrderUpdates client={ws.client} />} />;
}

const USERS = [
  { userId: 'ann', username: 'Ann Srisuk' },
  { userId: 'bob', username: 'Bob Chaiyo' },
  { userId: 'chai', username: 'Chai Wongsa' },
];

function SignIn({ lang, onLanguage }: { lang: RealtimeLanguage; onLanguage: () => void }): ReactElement {
  const { t } = useRealtimeI18n();
  return (
    <main className="signin rtc-panel">
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
      <LanguageButton onLanguage={onLanguage} />
    </main>
  );
}

export interface AppProps {
  session: Session | null;
  /** Fixed data instead of a server (the screenshot page), see fixture.tsx. */
  fixture?: WorkspaceData | undefined;
  lang: RealtimeLanguage;
  /** Keeps the choice (URL and storage). */
  onLanguageChange: (lang: RealtimeLanguage) => void;
  now?: (() => number) | undefined;
}

/** The window's title in the language. */
function DocumentTitle({ orderId }: { orderId: string | null }): null {
  const { t } = useRealtimeI18n();
  useEffect(() => {
    document.title = orderId === null ? t('demo.title') : `${t('entities.order', { id: orderId })} · ${t('demo.title')}`;
  }, [t, orderId]);
  return null;
}

export function App({ session, fixture, lang: initial, onLanguageChange, now }: AppProps): ReactElement {
  const [lang, setLang] = useState<RealtimeLanguage>(initial);
  const toggle = useCallback(() => setLang((l) => (l === 'en' ? 'th' : 'en')), []);
  useEffect(() => {
    document.documentElement.lang = lang;
    onLanguageChange(lang);
  }, [lang, onLanguageChange]);
  return (
    <RealtimeI18nProvider lang={lang} messages={demoMessages} now={now}>
      <RealtimeStyles />
      <DocumentTitle orderId={fixture?.orderId ?? session?.orderId ?? null} />
      {fixture !== undefined ? (
        <WorkspaceView data={fixture} onLanguage={toggle} />
      ) : session === null ? (
        <SignIn lang={lang} onLanguage={toggle} />
      ) : (
        <Workspace session={session} onLanguage={toggle} />
      )}
    </RealtimeI18nProvider>
  );
}
