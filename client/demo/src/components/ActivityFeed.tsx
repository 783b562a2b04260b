import { useEffect, useRef, useState, type ReactElement } from 'react';
import type { ActivityAction, ActivityLog } from '../../../src/index.js';
import { relativeTime, useTranslation } from '../i18n.js';
import { Avatar } from './Avatar.js';

export type { ActivityLog };

export interface ActivityFeedProps {
  activities: readonly ActivityLog[];
  maxItems?: number;
  showFilters?: boolean;
  showDetails?: boolean;
  compact?: boolean;
  /** Keep the newest entry in view as entries arrive. */
  autoScroll?: boolean;
  onActivityClick?: (activity: ActivityLog) => void;
}

const ACTIONS: ActivityAction[] = ['created', 'updated', 'deleted', 'viewed'];
const ICONS: Record<ActivityAction, string> = { created: '+', updated: '~', deleted: '×', viewed: '·' };

function show(v: unknown): string {
  if (v === undefined || v === null || v === '') return '—';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Live activity log of user actions (the seed's ActivityFeed). */
export function ActivityFeed({
  activities,
  maxItems = 50,
  showFilters = true,
  showDetails = true,
  compact = false,
  autoScroll = true,
  onActivityClick,
}: ActivityFeedProps): ReactElement {
  const { t } = useTranslation();
  const [action, setAction] = useState<ActivityAction | 'all'>('all');
  const [entityType, setEntityType] = useState<string>('all');
  const [expanded, setExpanded] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const top = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(id);
  }, []);
  const types = [...new Set(activities.map((a) => a.entity.type))].sort();
  const list = activities
    .filter((a) => (action === 'all' || a.action === action) && (entityType === 'all' || a.entity.type === entityType))
    .slice(0, maxItems);
  const newest = list[0]?.id;
  useEffect(() => {
    if (autoScroll) top.current?.scrollIntoView?.({ block: 'nearest' });
  }, [autoScroll, newest]);
  return (
    <div className={`activity-feed${compact ? ' compact' : ''}`} data-testid="activity-feed">
      {showFilters && (
        <div className="filters">
          <select value={action} onChange={(e) => setAction(e.target.value as ActivityAction | 'all')} aria-label="action">
            <option value="all">{t('activity.filters.all')}</option>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {t(`activity.filters.${a}`)}
              </option>
            ))}
          </select>
          <select value={entityType} onChange={(e) => setEntityType(e.target.value)} aria-label="entity">
            <option value="all">{t('activity.filters.all')}</option>
            {types.map((ty) => (
              <option key={ty} value={ty}>
                {ty}
              </option>
            ))}
          </select>
        </div>
      )}
      <div ref={top} />
      {list.length === 0 && <p className="muted">{t('activity.empty')}</p>}
      <ul>
        {list.map((a) => (
          <li
            key={a.id}
            className="activity-row"
            data-action={a.action}
            onClick={() => {
              setExpanded(expanded === a.id ? null : a.id);
              onActivityClick?.(a);
            }}
          >
            <span className={`activity-icon action-${a.action}`}>{ICONS[a.action]}</span>
            {!compact && <Avatar userId={a.userId} name={a.username || a.userId} avatar={a.avatar} size={24} />}
            <div className="activity-body">
              <div>
                <strong>{a.username || a.userId}</strong> {t(`activity.actions.${a.action}`)}{' '}
                <span className="entity">
                  {a.entity.name || `${a.entity.type} ${a.entity.id}`}
                </span>
                <span className="muted small"> · {relativeTime(t, a.timestamp, now)}</span>
              </div>
              {showDetails && (expanded === a.id || !compact) && a.changes !== undefined && a.changes.length > 0 && (
                <ul className="changes small">
                  {a.changes.map((c, i) => (
                    <li key={i}>{t('activity.changed', { field: c.field, before: show(c.before), after: show(c.after) })}</li>
                  ))}
                </ul>
              )}
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
