import type { ReactElement } from 'react';

// Each passes WCAG AA (4.5:1) for white initials.
const COLORS = ['#1d4ed8', '#be185d', '#15803d', '#c2410c', '#6d28d9', '#0e7490', '#a16207', '#b91c1c'];

/** A stable colour per user id. */
export function colorOf(userId: string): string {
  let h = 0;
  for (const ch of userId) h = (h * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return COLORS[h % COLORS.length] as string;
}

/** Up to two initials of a name, by code point (any script). */
export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = Array.from(parts[0] ?? '?')[0] ?? '?';
  const second = parts.length > 1 ? (Array.from(parts[parts.length - 1] ?? '')[0] ?? '') : '';
  return (first + second).toUpperCase();
}

export interface AvatarProps {
  userId: string;
  name: string;
  avatar?: string | undefined;
  status?: string | undefined;
  size?: number;
  /** Text for assistive technology; the avatar is decorative without it. */
  label?: string | undefined;
}

/** A user's picture or initials, with an optional status dot. */
export function Avatar({ userId, name, avatar, status, size = 32, label }: AvatarProps): ReactElement {
  return (
    <span
      className="rtc-avatar"
      style={{ width: size, height: size, background: colorOf(userId), fontSize: Math.max(10, Math.round(size * 0.38)) }}
      title={name}
      data-user={userId}
      {...(label === undefined ? { 'aria-hidden': true } : { role: 'img', 'aria-label': label })}
    >
      {avatar ? <img src={avatar} alt="" /> : <span className="rtc-avatar-initials">{initials(name)}</span>}
      {status !== undefined && <span className={`rtc-avatar-status rtc-status-${status}`} />}
    </span>
  );
}
