import type { ReactElement } from 'react';

/** The icons the components draw: inline SVG, sized by the font, coloured by currentColor. */
export type IconName = 'created' | 'updated' | 'deleted' | 'viewed' | 'lock' | 'unlock' | 'comment' | 'history' | 'users' | 'conflict' | 'undo' | 'check' | 'chevron' | 'wifi' | 'wifi-off' | 'cursor';

const PATHS: Record<IconName, string> = {
  created: 'M12 5v14M5 12h14',
  updated: 'M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4',
  deleted: 'M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13',
  viewed: 'M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12zM12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z',
  lock: 'M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4',
  unlock: 'M6 11h12v10H6zM8 11V7a4 4 0 0 1 7.5-2',
  comment: 'M4 5h16v11H9l-5 4z',
  history: 'M3 12a9 9 0 1 0 3-6.7M3 4v5h5M12 7v5l3 2',
  users: 'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM2 21v-1a7 7 0 0 1 14 0v1M17 4a4 4 0 0 1 0 7M22 21v-1a7 7 0 0 0-4-6.3',
  conflict: 'M12 3l10 18H2zM12 10v4M12 17v.5',
  undo: 'M9 14L4 9l5-5M4 9h11a5 5 0 0 1 0 10h-3',
  check: 'M5 12l5 5L20 7',
  chevron: 'M9 6l6 6-6 6',
  wifi: 'M2 9a15 15 0 0 1 20 0M5 12.5a10 10 0 0 1 14 0M8.5 16a5 5 0 0 1 7 0M12 19.5v.5',
  'wifi-off': 'M2 2l20 20M8.5 16a5 5 0 0 1 7 0M5 12.5a10 10 0 0 1 5-2.7M2 9a15 15 0 0 1 4.5-2.9M14 9.8a10 10 0 0 1 5 2.7M12 19.5v.5',
  cursor: 'M4 3l7 17 2.5-7.5L21 10z',
};

/** A decorative icon (hidden from assistive technology; the text next to it says what it means). */
export function Icon({ name, className }: { name: IconName; className?: string }): ReactElement {
  return (
    <svg
      className={`rtc-icon${className ? ` ${className}` : ''}`}
      viewBox="0 0 24 24"
      width="1em"
      height="1em"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}
