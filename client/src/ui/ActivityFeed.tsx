import { useEffect, useId, useRef, useState, type ReactElement } from 'react';
import type { ActivityAction, ActivityLog } from '../types.js';
import { Avatar } from './Avatar.js';
import { entityName, entityTypeName, fieldName, leafChanges, showValue, type FieldLabel } from './format.js';
import { errorCode, errorText, isoTime, useRealtimeI18n, type RealtimeI18n } from './i18n.js';
import { Icon } from './icons.js';
import { useTicker } from './ticker.js';

export type { ActivityLog };

export interface ActivityFeedProps {
  /** Newest first. Entries with the same `id` (an entry announced again) show once: the first. */
  activities: readonly ActivityLog[];
  /**
   * The most entries kept on screen (the rest are dropped, newest first).
   * Once this many show, "Show older activity" is no longer offered. Default 50.
   */
  maxItems?: number;
  showFilters?: boolean;
  /** Show what each change did: the field, its old and its new value. */
  showDetails?: boolean;
  compact?: boolean;
  /**
   * Keep the newest entry in view as entries arrive. This scrolls the
   * feed's own list only, never the page, and only while the reader is at
   * its top.
   */
  autoScroll?: boolean;
  onActivityClick?: (activity: ActivityLog) => void;
  /** Only the entries about this entity (e.g. the order on screen). */
  entity?: { type: string; id: string } | undefined;
  /** Entries shown per page; "Show older activity" adds a page. Default 15. */
  pageSize?: number;
  /** More entries exist on the server than `activities` holds. */
  hasMore?: boolean;
  /**
   * Loads the next page from the server (called when the reader asks for more
   * than is loaded). A promise it returns that rejects is shown as an alert.
   */
  onLoadMore?: (() => unknown) | undefined;
  /** Names a changed field by its path (e.g. customer.name → "Customer"); the path otherwise. */
  fieldLabel?: FieldLabel | undefined;
}

const ACTIONS: ActivityAction[] = ['created', 'updated', 'deleted', 'viewed'];

/** A filter's <option> value: "" for all, else the choice after a prefix, so no choice can read as "all". */
function filterValue(choice: string | null): string {
  return choice === null ? '' : `=${choice}`;
}

/** The choice of a filter's <option> value (see filterValue); null for all. */
function filterChoice(value: string): string | null {
  return value.startsWith('=') ? value.slice(1) : null;
}

/**
 * The action an entry reads as. An entry the server recorded as "created"
 * for a field change (one path set on an entity it had no version of yet)
 * is an edit of an order that existed before its first change.
 */
export function shownAction(a: ActivityLog): ActivityAction {
  if (a.action !== 'created') return a.action;
  const field = a.changes?.[0]?.field;
  return field !== undefined && field !== '' ? 'updated' : 'created';
}

function summary(i18n: RealtimeI18n, a: ActivityLog, action: ActivityAction, label: FieldLabel | undefined): string {
  const name = a.username || a.userId;
  const changes = leafChanges(a.changes ?? []);
  if (action === 'updated' && changes.length === 1 && changes[0] !== undefined) {
    return i18n.t('activity.summary.field', { name, field: fieldName(changes[0].field, label) });
  }
  if (action === 'updated' && changes.length > 1) {
    return i18n.t('activity.summary.fields', { name, count: i18n.formatNumber(changes.length) });
  }
  return i18n.t(`activity.summary.${action}`, { name, entity: entityName(i18n, a.entity) });
}

/**
 * One entry per id, in the order given: the first copy of an id, the
 * newest in the feed's newest-first order, stays where it is. A change
 * sent again announces its entry again with the same id (and a live entry
 * may also be in a page loaded from the server); the feed keeps one.
 */
function uniqueActivities(activities: readonly ActivityLog[]): readonly ActivityLog[] {
  const seen = new Set<string>();
  const out = activities.filter((a) => {
    if (seen.has(a.id)) return false;
    seen.add(a.id);
    return true;
  });
  return out.length === activities.length ? activities : out;
}

/**
 * The live activity log (the seed's ActivityFeed): a timeline with icons,
 * labelled action and type filters, each change's field with its old and
 * new value, relative times through Intl, paged, and announced politely to
 * screen readers as entries arrive.
 */
export function ActivityFeed({
  activities,
  maxItems = 50,
  showFilters = true,
  showDetails = true,
  compact = false,
  autoScroll = true,
  onActivityClick,
  entity,
  pageSize = 15,
  hasMore = false,
  onLoadMore,
  fieldLabel,
}: ActivityFeedProps): ReactElement {
  const i18n = useRealtimeI18n();
  const { t, formatNumber } = i18n;
  const id = useId();
  // null: every action or type. The options' values carry a prefix, and
  // "all" is the empty value, so no action or entity type (an entity type
  // may be named "all") stands for another.
  const [action, setAction] = useState<ActivityAction | null>(null);
  const [entityType, setEntityType] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [pages, setPages] = useState(1);
  const [loadError, setLoadError] = useState<string | null>(null);
  useTicker(30_000);
  const list = useRef<HTMLDivElement>(null);

  const unique = uniqueActivities(activities);
  const scoped = entity === undefined ? unique : unique.filter((a) => a.entity.type === entity.type && a.entity.id === entity.id);
  const types = [...new Set(scoped.map((a) => a.entity.type))].sort();
  const matching = scoped
    .filter((a) => (action === null || shownAction(a) === action) && (entityType === null || a.entity.type === entityType))
    .slice(0, Math.max(0, maxItems));
  const visible = matching.slice(0, pages * pageSize);
  const newest = visible[0]?.id;
  useEffect(() => {
    const el = list.current;
    // The list's own scroll position only: never scrollIntoView, which moves the page.
    if (autoScroll && el !== null && el.scrollTop > 0 && el.scrollTop < 48) el.scrollTop = 0;
  }, [autoScroll, newest]);
  // Older entries from the server could only show while fewer than maxItems
  // do: past that the cap keeps the newest and drops whatever loads.
  const canShowMore = visible.length < matching.length || (hasMore && onLoadMore !== undefined && matching.length < maxItems);

  return (
    <div className={`rtc-feed${compact ? ' rtc-compact' : ''}`} data-testid="activity-feed">
      {showFilters && (
        <div className="rtc-filters">
          <label className="rtc-filter">
            <span>{t('activity.filters.action')}</span>
            <select
              value={filterValue(action)}
              onChange={(e) => setAction(filterChoice(e.target.value) as ActivityAction | null)}
              data-testid="filter-action"
            >
              <option value="">{t('activity.filters.allActions')}</option>
              {ACTIONS.map((a) => (
                <option key={a} value={filterValue(a)}>
                  {t(`activity.filters.${a}`)}
                </option>
              ))}
            </select>
          </label>
          {entity === undefined && (
            <label className="rtc-filter">
              <span>{t('activity.filters.entity')}</span>
              <select value={filterValue(entityType)} onChange={(e) => setEntityType(filterChoice(e.target.value))} data-testid="filter-entity">
                <option value="">{t('activity.filters.allTypes')}</option>
                {types.map((ty) => (
                  <option key={ty} value={filterValue(ty)}>
                    {entityTypeName(i18n, ty)}
                  </option>
                ))}
              </select>
            </label>
          )}
        </div>
      )}
      {visible.length === 0 && <p className="rtc-muted">{t('activity.empty')}</p>}
      <div className="rtc-feed-list" ref={list} role="log" aria-live="polite" aria-relevant="additions" aria-label={t('activity.label')} tabIndex={0}>
        <ul>
          {visible.map((a, index) => {
            const act = shownAction(a);
            const changes = showDetails ? leafChanges(a.changes ?? []) : [];
            // Up to three changes show at once (compact or not), more behind a toggle.
            const toggle = changes.length > 3;
            const open = !toggle || expanded === a.id;
            const detailsId = `${id}-details-${index}`;
            const when = new Date(a.timestamp);
            return (
              <li key={a.id} className="rtc-feed-row" data-action={act} data-testid="activity-entry">
                <span className={`rtc-feed-icon rtc-action-${act}`}>
                  <Icon name={act} />
                </span>
                {!compact && <Avatar userId={a.userId} name={a.username || a.userId} avatar={a.avatar} size={24} />}
                <div className="rtc-feed-body">
                  <div className="rtc-feed-line">
                    {onActivityClick ? (
                      <button type="button" className="rtc-link rtc-feed-summary" onClick={() => onActivityClick(a)}>
                        {summary(i18n, a, act, fieldLabel)}
                      </button>
                    ) : (
                      <span className="rtc-feed-summary">{summary(i18n, a, act, fieldLabel)}</span>
                    )}{' '}
                    <time className="rtc-muted rtc-small" dateTime={isoTime(when)} title={i18n.formatDate(when)}>
                      {i18n.relativeTime(when)}
                    </time>
                  </div>
                  {changes.length > 0 && open && (
                    <ul className="rtc-changes rtc-small" id={detailsId}>
                      {changes.map((c, i) => (
                        <li key={i}>
                          <span className="rtc-field">{fieldName(c.field, fieldLabel)}</span>: <span className="rtc-before">{showValue(i18n, c.before)}</span>{' '}
                          <span aria-hidden="true">→</span>
                          <span className="rtc-sr-only">{t('activity.to')}</span> <span className="rtc-after">{showValue(i18n, c.after)}</span>
                        </li>
                      ))}
                    </ul>
                  )}
                  {toggle && (
                    <button
                      type="button"
                      className="rtc-link rtc-small"
                      aria-expanded={open}
                      aria-controls={open ? detailsId : undefined}
                      onClick={() => setExpanded(expanded === a.id ? null : a.id)}
                    >
                      {open ? t('activity.hideDetails') : t('activity.showDetails')}
                    </button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      </div>
      {loadError !== null && (
        <p className="rtc-error rtc-small" role="alert">
          {loadError}
        </p>
      )}
      {canShowMore && (
        <div className="rtc-more">
          <span className="rtc-muted rtc-small">{t('activity.shown', { shown: formatNumber(visible.length), total: formatNumber(matching.length) })}</span>
          <button
            type="button"
            className="rtc-button"
            data-testid="activity-more"
            onClick={() => {
              if (visible.length >= matching.length && onLoadMore !== undefined) {
                setLoadError(null);
                Promise.resolve(onLoadMore()).catch((err: unknown) => setLoadError(errorText(t, errorCode(err))));
              }
              setPages((p) => p + 1);
            }}
          >
            {t('activity.showMore')}
          </button>
        </div>
      )}
    </div>
  );
}
