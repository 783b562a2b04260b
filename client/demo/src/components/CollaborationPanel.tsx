import { useState, type ReactElement } from 'react';
import type { Change, Comment, Conflict, Lock, PresenceData } from '../../../src/index.js';
import { errorText, relativeTime, useTranslation } from '../i18n.js';
import { Avatar } from './Avatar.js';
import { PresenceIndicator } from './PresenceIndicator.js';

export type CollaborationTab = 'collaborators' | 'comments' | 'history' | 'conflicts';

export interface CollaborationPanelProps {
  activeUsers: readonly PresenceData[];
  currentUserId?: string | undefined;
  lock?: Lock | null;
  isLocked?: boolean;
  lockedByMe?: boolean;
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
}

function show(v: unknown): string {
  if (v === undefined || v === null || v === '') return '—';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : 'INTERNAL';
}

/** Collaborators, comments, history with undo, and conflicts in one panel (the seed's CollaborationPanel). */
export function CollaborationPanel(props: CollaborationPanelProps): ReactElement {
  const { t } = useTranslation();
  const [tab, setTab] = useState<CollaborationTab>(props.defaultTab ?? 'collaborators');
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const comments = props.comments ?? [];
  const history = props.changeHistory ?? [];
  const conflicts = props.conflicts ?? [];
  const open = conflicts.filter((c) => !c.resolved).length;
  const run = (p: unknown): void => {
    setError(null);
    Promise.resolve(p).catch((err: unknown) => setError(errorText(t, codeOf(err))));
  };
  const tabs: [CollaborationTab, string, number][] = [
    ['collaborators', t('collaboration.tabs.collaborators'), props.activeUsers.length],
    ['comments', t('collaboration.tabs.comments'), comments.filter((c) => !c.resolved).length],
    ['history', t('collaboration.tabs.history'), history.length],
    ['conflicts', t('collaboration.tabs.conflicts'), open],
  ];
  const now = Date.now();
  return (
    <section className="panel collaboration" data-testid="collaboration-panel">
      <h2>{t('collaboration.title')}</h2>
      <div className="lock-box" data-testid="lock-state">
        {props.lockedByMe ? (
          <>
            <span>{t('collaboration.lock.lockedByMe')}</span>
            {props.onReleaseLock && (
              <button type="button" onClick={() => run(props.onReleaseLock?.())} data-testid="release-lock">
                {t('collaboration.lock.release')}
              </button>
            )}
          </>
        ) : props.isLocked ? (
          <span>{t('collaboration.lock.lockedBy', { name: props.lock?.lockedByName ?? props.lock?.lockedBy ?? '' })}</span>
        ) : (
          <>
            <span className="muted">{t('collaboration.lock.unlocked')}</span>
            {props.onAcquireLock && (
              <button type="button" onClick={() => run(props.onAcquireLock?.())} data-testid="acquire-lock">
                {t('collaboration.lock.acquire')}
              </button>
            )}
          </>
        )}
      </div>
      <div className="tabs" role="tablist">
        {tabs.map(([id, label, n]) => (
          <button
            key={id}
            type="button"
            role="tab"
            aria-selected={tab === id}
            className={tab === id ? 'active' : ''}
            onClick={() => setTab(id)}
            data-testid={`tab-${id}`}
          >
            {label}
            {n > 0 && <span className="count">{n}</span>}
          </button>
        ))}
      </div>
      {error !== null && <p className="error small">{error}</p>}
      <div className="tab-body" role="tabpanel">
        {tab === 'collaborators' && <PresenceIndicator users={props.activeUsers} currentUserId={props.currentUserId} />}
        {tab === 'comments' && (
          <div className="comments" data-testid="comments">
            <form
              onSubmit={(e) => {
                e.preventDefault();
                const text = draft.trim();
                if (text === '' || !props.onAddComment) return;
                setDraft('');
                run(props.onAddComment(text));
              }}
            >
              <textarea
                value={draft}
                placeholder={t('collaboration.comments.placeholder')}
                onChange={(e) => setDraft(e.target.value)}
                data-testid="comment-input"
              />
              <button type="submit" data-testid="comment-submit">
                {t('collaboration.comments.add')}
              </button>
            </form>
            {comments.length === 0 && <p className="muted">{t('collaboration.comments.empty')}</p>}
            <ul>
              {comments.map((c) => (
                <li key={c.id} className={`comment${c.resolved ? ' resolved' : ''}`} data-testid="comment">
                  <Avatar userId={c.userId} name={c.username ?? c.userId} avatar={c.avatar} size={24} />
                  <div>
                    <div className="small">
                      <strong>{c.username ?? c.userId}</strong>{' '}
                      <span className="muted">{relativeTime(t, c.createdAt, now)}</span>
                      {c.resolved && <span className="badge">{t('collaboration.comments.resolved')}</span>}
                    </div>
                    <p className="comment-text">{c.text}</p>
                    {props.onResolveComment && (
                      <button type="button" className="link" onClick={() => run(props.onResolveComment?.(c.id, !c.resolved))}>
                        {c.resolved ? t('collaboration.comments.reopen') : t('collaboration.comments.resolve')}
                      </button>
                    )}
                  </div>
                </li>
              ))}
            </ul>
          </div>
        )}
        {tab === 'history' && (
          <div className="history" data-testid="history">
            {history.length === 0 && <p className="muted">{t('collaboration.history.empty')}</p>}
            <ul>
              {history.map((c) => (
                <li key={c.id} className="history-row" data-version={c.version}>
                  <span className="badge">{t('collaboration.history.version', { version: c.version })}</span>
                  <span>
                    <code>{c.path}</code>: {show(c.before)} → {show(c.after)}
                  </span>
                  <span className="muted small">
                    {t('collaboration.history.by', { name: c.username ?? c.userId })} · {relativeTime(t, c.timestamp, now)}
                  </span>
                  {props.onUndoChange && (
                    <button type="button" className="link" onClick={() => run(props.onUndoChange?.(c.id))}>
                      {t('collaboration.history.undo')}
                    </button>
                  )}
                </li>
              ))}
            </ul>
          </div>
        )}
        {tab === 'conflicts' && (
          <div className="conflicts" data-testid="conflicts">
            {conflicts.length === 0 && <p className="muted">{t('collaboration.conflicts.empty')}</p>}
            <ul>
              {conflicts.map((c) => (
                <li key={c.id} className={`conflict${c.resolved ? ' resolved' : ''}`}>
                  <code>{c.path ?? c.localChange.path}</code>
                  <div className="small">
                    {t('collaboration.conflicts.mine')}: {show(c.localChange.after)} · {t('collaboration.conflicts.theirs')}:{' '}
                    {show(c.remoteChange.after)} ({c.remoteChange.username ?? c.remoteChange.userId})
                  </div>
                  {c.resolved ? (
                    <span className="badge">{t('collaboration.conflicts.resolved', { resolution: c.resolution ?? '' })}</span>
                  ) : (
                    props.onResolveConflict && (
                      <div className="buttons">
                        <button type="button" onClick={() => run(props.onResolveConflict?.(c.id, 'local'))}>
                          {t('collaboration.conflicts.keepMine')}
                        </button>
                        <button type="button" onClick={() => run(props.onResolveConflict?.(c.id, 'remote'))}>
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
