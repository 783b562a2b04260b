import { useState, type ReactElement } from 'react';
import type { Lock } from '../types.js';
import { Icon } from './icons.js';
import { errorCode, errorText, useRealtimeI18n } from './i18n.js';

export interface LockBannerProps {
  lock: Lock | null | undefined;
  isLocked: boolean;
  lockedByMe: boolean;
  /** Shown as "Finish editing" while this user holds the lock. */
  onReleaseLock?: (() => unknown) | undefined;
  /** Shown as "Start editing" while no one holds it (omit to show nothing then). */
  onAcquireLock?: (() => unknown) | undefined;
}

/**
 * Who is editing the entity, as a polite live region, with the one action
 * that applies. An action whose promise rejects (e.g. TIMEOUT) is said
 * below the banner as an alert, until the next action.
 */
export function LockBanner({ lock, isLocked, lockedByMe, onReleaseLock, onAcquireLock }: LockBannerProps): ReactElement | null {
  const { t } = useRealtimeI18n();
  const [error, setError] = useState<string | null>(null);
  const run = (p: unknown): void => {
    setError(null);
    Promise.resolve(p).catch((err: unknown) => setError(errorText(t, errorCode(err))));
  };
  const alert =
    error === null ? null : (
      <p className="rtc-error rtc-small" role="alert">
        {error}
      </p>
    );
  if (lockedByMe) {
    return (
      <>
        <div className="rtc-banner rtc-banner-info" role="status" data-testid="lock-mine">
          <Icon name="lock" />
          <span className="rtc-banner-text">
            {t('collaboration.lock.lockedByMe')} <span className="rtc-muted rtc-small">{t('collaboration.lock.expires')}</span>
          </span>
          {onReleaseLock && (
            <button type="button" className="rtc-button" onClick={() => run(onReleaseLock())} data-testid="finish-editing">
              {t('collaboration.lock.release')}
            </button>
          )}
        </div>
        {alert}
      </>
    );
  }
  if (isLocked) {
    return (
      <>
        <div className="rtc-banner rtc-banner-warning" role="status" data-testid="lock-banner">
          <Icon name="lock" />
          <span className="rtc-banner-text">{t('collaboration.lock.lockedBy', { name: lock?.lockedByName ?? lock?.lockedBy ?? '' })}</span>
        </div>
        {alert}
      </>
    );
  }
  if (!onAcquireLock) return alert;
  return (
    <>
      <div className="rtc-banner" role="status" data-testid="lock-free">
        <Icon name="unlock" />
        <span className="rtc-banner-text rtc-muted">{t('collaboration.lock.unlocked')}</span>
        <button type="button" className="rtc-button" onClick={() => run(onAcquireLock())}>
          {t('collaboration.lock.acquire')}
        </button>
      </div>
      {alert}
    </>
  );
}
