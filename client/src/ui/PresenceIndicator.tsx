import type { ReactElement } from 'react';
import type { CursorPosition } from '../presence.js';
import type { PresenceData } from '../types.js';
import { Avatar } from './Avatar.js';
import { activityText, locationText } from './format.js';
import { useRealtimeI18n } from './i18n.js';

export interface PresenceIndicatorProps {
  users: readonly PresenceData[];
  currentUserId?: string | undefined;
  showLocation?: boolean;
  showActivity?: boolean;
  /**
   * Show the last known mouse position next to each user: their cursor's
   * page position in `cursors`, else the user's own `mousePosition`.
   */
  showMouseCursor?: boolean;
  /**
   * The room's cursors (`useRoomPresence`'s `cursors`), where showMouseCursor
   * reads positions: the server's presence data carries none, a room's
   * cursor events do. A cursor anchored to an element only shows no position.
   */
  cursors?: readonly CursorPosition[] | undefined;
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
  cursors,
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
  // A user's cursor decides: one anchored to an element shows no position;
  // without a cursor, a mousePosition the application put in the user's data shows.
  const pointers = new Map<string, { x: number; y: number } | undefined>();
  for (const c of cursors ?? []) pointers.set(c.userId, c.x !== undefined && c.y !== undefined ? { x: c.x, y: c.y } : undefined);
  const pointerOf = (u: PresenceData): { x: number; y: number } | undefined =>
    pointers.has(u.userId) ? pointers.get(u.userId) : u.mousePosition;
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
        {shown.map((u) => {
          const pointer = showMouseCursor ? pointerOf(u) : undefined;
          return (
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
                {pointer !== undefined && (
                  <div className="rtc-muted rtc-small">
                    {t('presence.cursorAt', { x: formatNumber(Math.round(pointer.x)), y: formatNumber(Math.round(pointer.y)) })}
                  </div>
                )}
              </div>
            </li>
          );
        })}
      </ul>
      {more > 0 && <p className="rtc-muted rtc-small">{t('presence.more', { count: formatNumber(more) })}</p>}
    </div>
  );
}
