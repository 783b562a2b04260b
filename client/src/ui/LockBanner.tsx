import { useState, type ReactElement } from 'react';
import type { Lock } from '../types.js';
import { entityName } from './format.js';
import { Icon } from './icons.js';
import { errorCode, errorText, useRealtimeI18n } from './i18n.js';

export interface LockBannerProps {
  lock: Lock | null | undefined;
  isLocked: boolean;
  lockedByMe: boolean;
  /**
   * This user's lock that expired (the state's `expiredLock`, from useLock
   * or useRealtimeSync): said while this user does not hold the lock, with
   * the entity and, when another user took it since, who edits it now.
   */
  expiredLock?: Lock | null | undefined;
  /** Shown as "Finish editing" while this user holds the lock. */
  onReleaseLock?: (() => unknown) | undefined;
  /** Shown as "Start editing" while no one holds it (omit to show nothing then). */
  onAcquireLock?: (() => unknown) | undefined;
}

/**
 * Who is editing the entity, as a polite live region, with the one action
 * that applies. A lock of this user's that expired is said until it is
 * taken again or released. An action whose promise rejects (e.g. TIMEOUT)
 * is said below the banner as an alert, until the next action.
 */
export function LockBanner({ lock, isLocked, lockedByMe, expiredLock, onReleaseLock, onAcquireLock }: LockBannerProps): ReactElement | null {
  const i18n = useRealtimeI18n();
  const { t } = i18n;
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
  const lockedBy = t('collaboration.lock.lockedBy', { name: lock?.lockedByName ?? lock?.lockedBy ?? '' });
  // "Start editing", while no one holds the lock.
  const acquire = !isLocked && onAcquireLock && (
    <button type="button" className="rtc-button" onClick={() => run(onAcquireLock())}>
      {t('collaboration.lock.acquire')}
    </button>
  );
  if (expiredLock != null) {
    const entity = entityName(i18n, { type: expiredLock.entityType, id: expiredLock.entityId });
    return (
      <>
        <div className="rtc-banner rtc-banner-warning" role="status" data-testid="lock-expired">
          <Icon name="unlock" />
          <span className="rtc-banner-text">
            {t('collaboration.lock.expired', { entity })}
            {isLocked && <span className="rtc-small"> {lockedBy}</span>}
          </span>
          {acquire}
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
          <span className="rtc-banner-text">{lockedBy}</span>
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
        {acquire}
      </div>
      {alert}
    </>
  );
}
