import type { ReactElement } from 'react';

const COLORS = ['#2563eb', '#db2777', '#16a34a', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#dc2626'];

/** A stable colour per user id. */
export function colorOf(userId: string): string {
  let h = 0;
  for (const ch of userId) h = (h * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return COLORS[h % COLORS.length] as string;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = Array.from(parts[0] ?? '?')[0] ?? '?';
  const second = parts.length > 1 ? (Array.from(parts[parts.length - 1] ?? '')[0] ?? '') : '';
  return (first + second).toUpperCase();
}

export function Avatar({
  userId,
  name,
  avatar,
  status,
  size = 32,
}: {
  userId: string;
  name: string;
  avatar?: string | undefined;
  status?: string | undefined;
  size?: number;
}): ReactElement {
  return (
    <span className="avatar" style={{ width: size, height: size, background: colorOf(userId) }} title={name} data-user={userId}>
      {avatar ? <img src={avatar} alt="" /> : <span className="avatar-initials">{initials(name)}</span>}
      {status !== undefined && <span className={`avatar-status status-${status}`} />}
    </span>
  );
}
