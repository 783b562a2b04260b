import type { ReactElement } from 'react';
import type { WebSocketClient } from '../../../src/index.js';
import { useWebSocketChannel } from '../../../src/react/index.js';
import { useTranslation } from '../i18n.js';

/**
 * The live dashboard of the order-updates channel: every update, oldest
 * first, with its stream offset. After a reconnect the client recovers the
 * updates it missed, so the list has no hole; when it cannot, a notice
 * says so.
 */
export function OrderUpdates({ client }: { client: WebSocketClient }): ReactElement {
  const { t } = useTranslation();
  const { messages, recoveryFailed } = useWebSocketChannel(client, 'order-updates', undefined, { maxMessages: 500 });
  return (
    <section className="panel" data-testid="order-updates">
      <h2>{t('orderUpdates.title')}</h2>
      {recoveryFailed !== null && (
        <p className="muted small" data-testid="order-updates-recovery-failed">
          {t('orderUpdates.recoveryFailed')}
        </p>
      )}
      {messages.length === 0 ? (
        <p className="muted small">{t('orderUpdates.empty')}</p>
      ) : (
        <ul className="small">
          {messages
            .slice()
            .reverse()
            .slice(0, 30)
            .map((m) => (
              <li key={`${m.epoch ?? ''}:${m.offset ?? m.messageId}`} data-offset={m.offset}>
                #{m.offset} {JSON.stringify(m.payload)}
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
