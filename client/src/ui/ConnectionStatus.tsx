import type { ReactElement, ReactNode } from 'react';
import { Icon } from './icons.js';
import { useRealtimeI18n } from './i18n.js';

export interface ConnectionStatusProps {
  /** The client's status: idle, connecting, open, reconnecting or closed. */
  status: string;
  /** Round-trip time of the last heartbeat in ms; shown only while the connection is open. */
  latency?: number | null | undefined;
  /** Hide the latency figure (e.g. for screenshots). Default true. */
  showLatency?: boolean;
  queuedMessages?: number | undefined;
  connectionId?: string | null | undefined;
  /** The browser's own network state (navigator.onLine). */
  browserOnline?: boolean | undefined;
  /** Extra controls at the end (e.g. a language switch). */
  children?: ReactNode;
}

/** The connection's state as a polite live region; a latency figure only while it is current. */
export function ConnectionStatus({ status, latency, showLatency = true, queuedMessages = 0, connectionId, browserOnline = true, children }: ConnectionStatusProps): ReactElement {
  const { t, formatNumber } = useRealtimeI18n();
  const open = status === 'open' || status === 'connected';
  return (
    <div
      className={`rtc-connection rtc-conn-${status}`}
      data-testid="connection-status"
      data-status={status}
      data-connection-id={connectionId ?? ''}
      aria-label={t('websocket.label')}
      role="group"
    >
      <span role="status" className="rtc-conn-state">
        <Icon name={open ? 'wifi' : 'wifi-off'} />
        <span className="rtc-dot" aria-hidden="true" />
        <span>{t(`websocket.status.${status}`)}</span>
      </span>
      {open && showLatency && latency !== null && latency !== undefined && Number.isFinite(latency) && (
        <span className="rtc-muted" data-testid="latency">
          {t('websocket.latency', { ms: formatNumber(Math.round(latency)) })}
        </span>
      )}
      {queuedMessages > 0 && <span className="rtc-muted">{t('websocket.queued', { count: formatNumber(queuedMessages) })}</span>}
      {!browserOnline && <span className="rtc-badge rtc-status-offline">{t('websocket.browserOffline')}</span>}
      {open && connectionId && (
        <span className="rtc-muted rtc-small rtc-conn-id" title={connectionId}>
          {t('websocket.connectionId', { id: connectionId })}
        </span>
      )}
      {children}
    </div>
  );
}
