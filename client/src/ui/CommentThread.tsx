import { useId, useRef, useState, type ReactElement } from 'react';
import type { Comment } from '../types.js';
import { Avatar } from './Avatar.js';
import { errorCode, errorText, isoTime, useRealtimeI18n } from './i18n.js';
import { Icon } from './icons.js';
import { useTicker } from './ticker.js';

export interface CommentThreadProps {
  comments: readonly Comment[];
  onAddComment?: ((text: string) => unknown) | undefined;
  onResolveComment?: ((commentId: string, resolved?: boolean) => unknown) | undefined;
  /** Comments shown at first (the newest); "Show older comments" adds as many. Default 10. */
  pageSize?: number;
}

function timeOf(c: Comment): number {
  const n = new Date(c.createdAt).getTime();
  return Number.isFinite(n) ? n : 0;
}

/**
 * A comment thread, oldest first, with the newest page shown: a labelled
 * form (Ctrl+Enter or ⌘+Enter sends), resolve and reopen buttons, paged.
 * The typed text is cleared once `onAddComment` succeeds (its promise
 * resolves); a refused comment keeps it, to be sent again.
 */
export function CommentThread({ comments, onAddComment, onResolveComment, pageSize = 10 }: CommentThreadProps): ReactElement {
  const i18n = useRealtimeI18n();
  const { t, formatNumber } = i18n;
  const id = useId();
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pages, setPages] = useState(1);
  const adding = useRef(false);
  useTicker(30_000);
  const sorted = [...comments].sort((a, b) => timeOf(a) - timeOf(b));
  const shown = sorted.slice(Math.max(0, sorted.length - pages * pageSize));
  const older = sorted.length - shown.length;
  const run = (p: unknown): void => {
    setError(null);
    Promise.resolve(p).catch((err: unknown) => setError(errorText(t, errorCode(err))));
  };
  const submit = (): void => {
    const text = draft.trim();
    if (text === '' || !onAddComment || adding.current) return;
    adding.current = true;
    setError(null);
    const sent = draft;
    new Promise((resolve) => resolve(onAddComment(text)))
      .then(
        // Text typed meanwhile stays.
        () => setDraft((d) => (d === sent ? '' : d)),
        (err: unknown) => setError(errorText(t, errorCode(err))),
      )
      .finally(() => {
        adding.current = false;
      });
  };
  return (
    <div className="rtc-comments" data-testid="comments">
      {older > 0 && (
        <button type="button" className="rtc-link rtc-small" onClick={() => setPages((p) => p + 1)} data-testid="comments-older">
          {t('collaboration.comments.showOlder', { count: formatNumber(older) })}
        </button>
      )}
      {comments.length === 0 && <p className="rtc-muted">{t('collaboration.comments.empty')}</p>}
      <ul aria-label={t('collaboration.comments.list')}>
        {shown.map((c) => (
          <li key={c.id} className={`rtc-comment${c.resolved ? ' rtc-resolved' : ''}`} data-testid="comment">
            <Avatar userId={c.userId} name={c.username ?? c.userId} avatar={c.avatar} size={24} />
            <div className="rtc-comment-body">
              <div className="rtc-small">
                <strong className="rtc-name">{c.username ?? c.userId}</strong>{' '}
                <time className="rtc-muted" dateTime={isoTime(timeOf(c))} title={i18n.formatDate(timeOf(c))}>
                  {i18n.relativeTime(timeOf(c))}
                </time>
                {c.resolved && (
                  <span className="rtc-badge">
                    <Icon name="check" /> {t('collaboration.comments.resolved')}
                  </span>
                )}
              </div>
              <p className="rtc-comment-text">{c.text}</p>
              {onResolveComment && (
                <button type="button" className="rtc-link rtc-small" onClick={() => run(onResolveComment(c.id, !c.resolved))}>
                  {c.resolved ? t('collaboration.comments.reopen') : t('collaboration.comments.resolve')}
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
      {error !== null && (
        <p className="rtc-error rtc-small" role="alert">
          {error}
        </p>
      )}
      {onAddComment && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <label htmlFor={`${id}-text`} className="rtc-small">
            {t('collaboration.comments.label')}
          </label>
          <textarea
            id={`${id}-text`}
            value={draft}
            placeholder={t('collaboration.comments.placeholder')}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                submit();
              }
            }}
            data-testid="comment-input"
          />
          <button type="submit" className="rtc-button rtc-primary" data-testid="comment-submit">
            <Icon name="comment" /> {t('collaboration.comments.add')}
          </button>
        </form>
      )}
    </div>
  );
}
