import type { ReactElement } from 'react';
import type { WebSocketClient } from '@omnisales/rtcollab-client';
import { useWebSocketChannel } from '@omnisales/rtcollab-client/react';
import { useRealtimeI18n } from '@omnisales/rtcollab-client/ui';

/**
 * The live dashboard of the order-updates channel: the latest 30 updates,
 * newest first, each with its stream offset (the hidden offsets list holds
 * every kept update, oldest first). After a reconnect the client recovers
 * the updates it missed, so the list has no hole; when it cannot, a notice
 * says so.
 */
export function OrderUpdates({ client }: { client: WebSocketClient }): ReactElement {
  const { t, formatNumber } = useRealtimeI18n();
  const { messages, recoveryFailed } = useWebSocketChannel(client, 'order-updates', undefined, { maxMessages: 500 });
  return (
    <section className="rtc-panel" data-testid="order-updates" aria-labelledby="order-updates-title">
      <h2 id="order-updates-title">{t('demo.orderUpdates.title')}</h2>
      {recoveryFailed !== null && (
        <p className="rtc-muted rtc-small" data-testid="order-updates-recovery-failed">
          {t('demo.orderUpdates.recoveryFailed')}
        </p>
      )}
      {messages.length === 0 ? (
        <p className="rtc-muted rtc-small">{t('demo.orderUpdates.empty')}</p>
      ) : (
        <ul className="rtc-small">
          {messages
            .slice()
            .reverse()
            .slice(0, 30)
            .map((m) => (
              <li key={`${m.epoch ?? ''}:${m.offset ?? m.messageId}`} data-offset={m.offset}>
                #{m.offset === undefined ? '' : formatNumber(m.offset)} {JSON.stringify(m.payload)}
              </li>
            ))}
        </ul>
      )}
      <span hidden data-testid="order-updates-offsets">
        {messages.map((m) => m.offset ?? '').join(',')}
      </span>
    </section>
  );
}
