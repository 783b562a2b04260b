import type { ReactElement } from 'react';
import type { CursorPosition } from '../presence.js';
import { colorOf } from './Avatar.js';

export interface LiveCursorsProps {
  /** Other users' cursors (useRoomPresence().cursors), in the container's coordinates. */
  cursors: readonly CursorPosition[];
  /** Colour per user; default the avatar colour. */
  colorFor?: (userId: string) => string;
}

/**
 * Other users' pointers over a positioned container (put it inside the
 * element whose coordinates the cursors use). Decorative: hidden from
 * assistive technology, which hears presence through PresenceIndicator.
 */
export function LiveCursors({ cursors, colorFor = colorOf }: LiveCursorsProps): ReactElement {
  return (
    <div className="rtc-cursors" aria-hidden="true">
      {cursors.map((c) =>
        c.x === undefined || c.y === undefined || !Number.isFinite(c.x) || !Number.isFinite(c.y) ? null : (
          <div
            key={c.userId}
            className="rtc-cursor"
            data-testid="remote-cursor"
            data-user={c.userId}
            style={{ transform: `translate(${c.x}px, ${c.y}px)`, color: colorFor(c.userId) }}
          >
            <svg width="16" height="16" viewBox="0 0 16 16" focusable="false">
              <path d="M0 0 L0 14 L4 10 L7 16 L9 15 L6 9 L12 9 Z" fill="currentColor" stroke="#fff" strokeWidth="1" />
            </svg>
            <span className="rtc-cursor-label" style={{ background: colorFor(c.userId) }}>
              {c.username || c.userId}
            </span>
          </div>
        ),
      )}
    </div>
  );
}
