import type { ReactElement } from 'react';
import type { PresenceData } from '../types.js';
import { Avatar } from './Avatar.js';
import { activityText, locationText } from './format.js';
import { useRealtimeI18n } from './i18n.js';

export interface PresenceIndicatorProps {
  users: readonly PresenceData[];
  currentUserId?: string | undefined;
  showLocation?: boolean;
  showActivity?: boolean;
  /** Show the last known mouse position next to each user. */
  showMouseCursor?: boolean;
  maxDisplay?: number;
  /** Avatars only, for a toolbar or a sidebar. */
  compact?: boolean;
}

/**
 * Online users with status, location and activity (the seed's
 * PresenceIndicator). A polite live region announces how many are online;
 * locations and activities set with presenceActivity() read in the
 * reader's language.
 */
export function PresenceIndicator({
  users,
  currentUserId,
  showLocation = true,
  showActivity = true,
  showMouseCursor = false,
  maxDisplay = 10,
  compact = false,
}: PresenceIndicatorProps): ReactElement {
  const i18n = useRealtimeI18n();
  const { t, formatNumber } = i18n;
  const shown = users.slice(0, Math.max(0, maxDisplay));
  const more = users.length - shown.length;
  const online = users.filter((u) => u.status === 'online').length;
  const status = <span className="rtc-sr-only" role="status">{t('presence.onlineCount', { count: formatNumber(online) })}</span>;
  const nameOf = (u: PresenceData): string => u.username || u.userId;
  if (compact) {
    return (
      <div className="rtc-presence-compact" data-testid="presence-avatars" role="group" aria-label={t('presence.label')}>
        {shown.map((u) => (
          <Avatar
            key={u.userId}
            userId={u.userId}
            name={nameOf(u)}
            avatar={u.avatar}
            status={u.status}
            label={`${nameOf(u)}${u.userId === currentUserId ? ` (${t('presence.you')})` : ''}: ${t(`presence.${u.status}`)}`}
          />
        ))}
        {more > 0 && (
          <span className="rtc-avatar rtc-avatar-more" role="img" aria-label={t('presence.more', { count: formatNumber(more) })}>
            +{formatNumber(more)}
          </span>
        )}
        {status}
      </div>
    );
  }
  return (
    <div className="rtc-presence-list" data-testid="presence-list">
      {status}
      {users.length === 0 && <p className="rtc-muted">{t('presence.noUsers')}</p>}
      <ul aria-label={t('presence.label')}>
        {shown.map((u) => (
          <li key={u.userId} className="rtc-presence-row" data-user={u.userId} data-status={u.status}>
            <Avatar userId={u.userId} name={nameOf(u)} avatar={u.avatar} status={u.status} />
            <div className="rtc-presence-body">
              <div className="rtc-presence-name">
                <span className="rtc-name">{nameOf(u)}</span>
                {u.userId === currentUserId && <span className="rtc-muted"> ({t('presence.you')})</span>}
                <span className={`rtc-badge rtc-status-${u.status}`}>{t(`presence.${u.status}`)}</span>
              </div>
              {showLocation && u.currentLocation.page !== '' && (
                <div className="rtc-muted rtc-small">{t('presence.location', { page: locationText(i18n, u.currentLocation) })}</div>
              )}
              {showActivity && u.activity && <div className="rtc-small">{activityText(i18n, u.activity)}</div>}
              {showMouseCursor && u.mousePosition && (
                <div className="rtc-muted rtc-small">
                  {t('presence.cursorAt', { x: formatNumber(Math.round(u.mousePosition.x)), y: formatNumber(Math.round(u.mousePosition.y)) })}
                </div>
              )}
            </div>
          </li>
        ))}
      </ul>
      {more > 0 && <p className="rtc-muted rtc-small">{t('presence.more', { count: formatNumber(more) })}</p>}
    </div>
  );
}
