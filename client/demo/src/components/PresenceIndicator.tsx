import type { ReactElement } from 'react';
import type { PresenceData } from '../../../src/index.js';
import { useTranslation } from '../i18n.js';
import { Avatar } from './Avatar.js';

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

/** Online users with status, location and activity (the seed's PresenceIndicator). */
export function PresenceIndicator({
  users,
  currentUserId,
  showLocation = true,
  showActivity = true,
  showMouseCursor = false,
  maxDisplay = 10,
  compact = false,
}: PresenceIndicatorProps): ReactElement {
  const { t } = useTranslation();
  const shown = users.slice(0, maxDisplay);
  const more = users.length - shown.length;
  if (compact) {
    return (
      <div className="presence-compact" data-testid="presence-avatars">
        {shown.map((u) => (
          <Avatar key={u.userId} userId={u.userId} name={u.username || u.userId} avatar={u.avatar} status={u.status} />
        ))}
        {more > 0 && <span className="avatar avatar-more">+{more}</span>}
      </div>
    );
  }
  return (
    <div className="presence-list" data-testid="presence-list">
      {users.length === 0 && <p className="muted">{t('presence.noUsers')}</p>}
      <ul>
        {shown.map((u) => (
          <li key={u.userId} className="presence-row" data-user={u.userId} data-status={u.status}>
            <Avatar userId={u.userId} name={u.username || u.userId} avatar={u.avatar} status={u.status} />
            <div>
              <div className="presence-name">
                {u.username || u.userId}
                {u.userId === currentUserId && <span className="muted"> ({t('presence.you')})</span>}
                <span className={`badge status-${u.status}`}>{t(`presence.${u.status}`)}</span>
              </div>
              {showLocation && u.currentLocation.page !== '' && (
                <div className="muted small">
                  {t('presence.location', {
                    page: u.currentLocation.section ? `${u.currentLocation.page} / ${u.currentLocation.section}` : u.currentLocation.page,
                  })}
                </div>
              )}
              {showActivity && u.activity && <div className="small">{u.activity}</div>}
              {showMouseCursor && u.mousePosition && (
                <div className="muted small">
                  ({Math.round(u.mousePosition.x)}, {Math.round(u.mousePosition.y)})
                </div>
              )}
            </div>
          </li>
        ))}
      </ul>
      {more > 0 && <p className="muted small">+{more}</p>}
    </div>
  );
}
