import { useId, useRef, useState, type KeyboardEvent, type ReactElement } from 'react';
import type { Change, Comment, Conflict, Lock, PresenceData } from '../types.js';
import { CommentThread } from './CommentThread.js';
import { fieldName, leafChanges, showValue, type FieldLabel } from './format.js';
import { errorCode, errorText, isoTime, useRealtimeI18n } from './i18n.js';
import { Icon, type IconName } from './icons.js';
import { LockBanner } from './LockBanner.js';
import { PresenceIndicator } from './PresenceIndicator.js';

export type CollaborationTab = 'collaborators' | 'comments' | 'history' | 'conflicts';

export interface CollaborationPanelProps {
  activeUsers: readonly PresenceData[];
  currentUserId?: string | undefined;
  lock?: Lock | null;
  isLocked?: boolean;
  lockedByMe?: boolean;
  /**
   * This user's lock that expired (the state's `expiredLock`, from useLock
   * or useRealtimeSync): while this user does not hold the lock, the lock
   * box is LockBanner's expired-lock warning, with "Start editing" or who
   * edits the entity now.
   */
  expiredLock?: Lock | null | undefined;
  onAcquireLock?: () => unknown;
  onReleaseLock?: () => unknown;
  comments?: readonly Comment[];
  onAddComment?: (text: string) => unknown;
  onResolveComment?: (commentId: string, resolved?: boolean) => unknown;
  changeHistory?: readonly Change[];
  onUndoChange?: (changeId: string) => unknown;
  conflicts?: readonly Conflict[];
  onResolveConflict?: (conflictId: string, resolution: 'local' | 'remote' | 'merged', mergedValue?: unknown) => unknown;
  defaultTab?: CollaborationTab;
  /** Names a field by its path in the history and conflicts; the path otherwise. */
  fieldLabel?: FieldLabel | undefined;
  /** Entries per page in the comments and the history. Default 10. */
  pageSize?: number;
}

const TABS: [CollaborationTab, IconName][] = [
  ['collaborators', 'users'],
  ['comments', 'comment'],
  ['history', 'history'],
  ['conflicts', 'conflict'],
];

/**
 * Collaborators, comments, history with undo, and conflicts in one panel
 * (the seed's CollaborationPanel). The tabs follow the WAI-ARIA tabs
 * pattern: one tab stop, arrow keys, Home and End move between tabs.
 */
export function CollaborationPanel(props: CollaborationPanelProps): ReactElement {
  const i18n = useRealtimeI18n();
  const { t, formatNumber } = i18n;
  const id = useId();
  const [tab, setTab] = useState<CollaborationTab>(props.defaultTab ?? 'collaborators');
  const [error, setError] = useState<string | null>(null);
  const [historyPages, setHistoryPages] = useState(1);
  const tabRefs = useRef<Partial<Record<CollaborationTab, HTMLButtonElement | null>>>({});
  const pageSize = props.pageSize ?? 10;
  const comments = props.comments ?? [];
  const history = props.changeHistory ?? [];
  const conflicts = props.conflicts ?? [];
  const counts: Record<CollaborationTab, number> = {
    collaborators: props.activeUsers.length,
    comments: comments.filter((c) => !c.resolved).length,
    history: history.length,
    conflicts: conflicts.filter((c) => !c.resolved).length,
  };
  const run = (p: unknown): void => {
    setError(null);
    Promise.resolve(p).catch((err: unknown) => setError(errorText(t, errorCode(err))));
  };
  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>): void => {
    const i = TABS.findIndex(([x]) => x === tab);
    let next = -1;
    if (e.key === 'ArrowRight') next = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') next = (i - 1 + TABS.length) % TABS.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = TABS.length - 1;
    if (next < 0) return;
    e.preventDefault();
    const target = (TABS[next] as [CollaborationTab, IconName])[0];
    setTab(target);
    tabRefs.current[target]?.focus();
  };
  const newestFirst = [...history].sort((a, b) => b.version - a.version);
  const historyShown = newestFirst.slice(0, historyPages * pageSize);
  const field = (path: string): string => fieldName(path, props.fieldLabel);
  return (
    <section className="rtc-panel rtc-collab" data-testid="collaboration-panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{t('collaboration.title')}</h2>
      {props.expiredLock != null && !props.lockedByMe ? (
        <LockBanner
          lock={props.lock}
          isLocked={props.isLocked ?? false}
          lockedByMe={false}
          expiredLock={props.expiredLock}
          onAcquireLock={props.onAcquireLock}
        />
      ) : (
        <div className="rtc-lock-box" data-testid="lock-state" role="status">
          <Icon name={props.isLocked || props.lockedByMe ? 'lock' : 'unlock'} />
          {props.lockedByMe ? (
            <>
              <span>{t('collaboration.lock.lockedByMe')}</span>
              {props.onReleaseLock && (
                <button type="button" className="rtc-button" onClick={() => run(props.onReleaseLock?.())} data-testid="release-lock">
                  {t('collaboration.lock.release')}
                </button>
              )}
            </>
          ) : props.isLocked ? (
            <span>{t('collaboration.lock.lockedBy', { name: props.lock?.lockedByName ?? props.lock?.lockedBy ?? '' })}</span>
          ) : (
            <>
              <span className="rtc-muted">{t('collaboration.lock.unlocked')}</span>
              {props.onAcquireLock && (
                <button type="button" className="rtc-button" onClick={() => run(props.onAcquireLock?.())} data-testid="acquire-lock">
                  {t('collaboration.lock.acquire')}
                </button>
              )}
            </>
          )}
        </div>
      )}
      <div className="rtc-tabs" role="tablist" aria-label={t('collaboration.tabsLabel')}>
        {TABS.map(([key, icon]) => (
          <button
            key={key}
            ref={(el) => {
              tabRefs.current[key] = el;
            }}
            type="button"
            role="tab"
            id={`${id}-tab-${key}`}
            aria-selected={tab === key}
            aria-controls={`${id}-panel`}
            tabIndex={tab === key ? 0 : -1}
            className={`rtc-tab${tab === key ? ' rtc-active' : ''}`}
            onClick={() => setTab(key)}
            onKeyDown={onTabKey}
            data-testid={`tab-${key}`}
          >
            <Icon name={icon} />
            <span>{t(`collaboration.tabs.${key}`)}</span>
            {counts[key] > 0 && <span className="rtc-count">{formatNumber(counts[key])}</span>}
          </button>
        ))}
      </div>
      {error !== null && (
        <p className="rtc-error rtc-small" role="alert">
          {error}
        </p>
      )}
      <div className="rtc-tab-body" role="tabpanel" id={`${id}-panel`} aria-labelledby={`${id}-tab-${tab}`} tabIndex={0}>
        {tab === 'collaborators' && <PresenceIndicator users={props.activeUsers} currentUserId={props.currentUserId} />}
        {tab === 'comments' && (
          <CommentThread comments={comments} onAddComment={props.onAddComment} onResolveComment={props.onResolveComment} pageSize={pageSize} />
        )}
        {tab === 'history' && (
          <div className="rtc-history" data-testid="history">
            {history.length === 0 && <p className="rtc-muted">{t('collaboration.history.empty')}</p>}
            <ul>
              {historyShown.map((c) => (
                <li key={c.id} className="rtc-history-row" data-version={c.version}>
                  {leafChanges([{ field: c.path, before: c.before, after: c.after }]).map((l, i) => (
                    <div key={i} className="rtc-history-head">
                      {i === 0 && (
                        <span className="rtc-badge" id={`${id}-v${c.version}`}>
                          {t('collaboration.history.version', { version: formatNumber(c.version) })}
                        </span>
                      )}
                      <span>
                        <span className="rtc-field" data-path={l.field}>
                          {field(l.field)}
                        </span>
                        : {showValue(i18n, l.before)} <span aria-hidden="true">→</span>
                        <span className="rtc-sr-only">{t('activity.to')}</span> {showValue(i18n, l.after)}
                      </span>
                    </div>
                  ))}
                  <span className="rtc-muted rtc-small">
                    {t('collaboration.history.by', { name: c.username ?? c.userId })} ·{' '}
                    <time dateTime={isoTime(c.timestamp)} title={i18n.formatDate(c.timestamp)}>
                      {i18n.relativeTime(c.timestamp)}
                    </time>
                  </span>
                  {props.onUndoChange && (
<button type="button" className="rtc-link rtc-small" aria-describedby={`${id}-v${c.version}`} onClick={() => run(props.onUndoChange?.(c.id))}>
                      <Icon name="undo" /> {t('collaboration.history.undo')}
                    </button>
                  )}
                </li>
              ))}
            </ul>
            {historyShown.length < newestFirst.length && (
              <button type="button" className="rtc-link rtc-small" onClick={() => setHistoryPages((p) => p + 1)}>
                {t('collaboration.history.showOlder', { count: formatNumber(newestFirst.length - historyShown.length) })}
              </button>
            )}
          </div>
        )}
        {tab === 'conflicts' && (
          <div className="rtc-conflicts" data-testid="conflicts">
            {conflicts.length === 0 && <p className="rtc-muted">{t('collaboration.conflicts.empty')}</p>}
            <ul>
              {conflicts.map((c) => (
                <li key={c.id} className={`rtc-conflict${c.resolved ? ' rtc-resolved' : ''}`}>
                  <span className="rtc-field">{field(c.path ?? c.localChange.path)}</span>
                  <div className="rtc-small">
                    {t('collaboration.conflicts.mine')}: {showValue(i18n, c.localChange.after)} · {t('collaboration.conflicts.theirs')}:{' '}
                    {showValue(i18n, c.remoteChange.after)} ({c.remoteChange.username ?? c.remoteChange.userId})
                  </div>
                  {c.resolved ? (
                    <span className="rtc-badge">
                      {t('collaboration.conflicts.resolved', { resolution: c.resolution ? t(`collaboration.conflicts.resolutions.${c.resolution}`) : '' })}
                    </span>
                  ) : (
                    props.onResolveConflict && (
                      <div className="rtc-buttons">
                        <button type="button" className="rtc-button" onClick={() => run(props.onResolveConflict?.(c.id, 'local'))}>
                          {t('collaboration.conflicts.keepMine')}
                        </button>
                        <button type="button" className="rtc-button" onClick={() => run(props.onResolveConflict?.(c.id, 'remote'))}>
                          {t('collaboration.conflicts.keepTheirs')}
                        </button>
                      </div>
                    )
                  )}
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
    </section>
  );
}
