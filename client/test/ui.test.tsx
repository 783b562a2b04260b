// @vitest-environment happy-dom
// The UI package without a server: translations (its own provider and
// react-i18next), Intl formats, and how the feed and the panel read entries.
import { act, cleanup, fireEvent, render } from '@testing-library/react';
import i18next from 'i18next';
import { I18nextProvider, initReactI18next, useTranslation } from 'react-i18next';
import type { ReactElement, ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ActivityLog, Change, CursorPosition, PresenceData } from '../src/index.js';
import {
  ActivityFeed,
  CollaborationPanel,
  CommentThread,
  ConnectionStatus,
  LockBanner,
  PresenceIndicator,
  RealtimeI18nProvider,
  createRealtimeI18n,
  presenceActivity,
  realtimeEn,
  realtimeResources,
  realtimeTh,
  shownAction,
  type Messages,
} from '../src/ui/index.js';
import { leafChanges, showValue } from '../src/ui/format.js';

afterEach(() => cleanup());

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const now = (): number => NOW;

function entry(over: Partial<ActivityLog>): ActivityLog {
  return {
    id: 'a1',
    userId: 'ann',
    username: 'Ann',
    action: 'updated',
    entity: { type: 'order', id: '7', name: 'Order #7' },
    timestamp: new Date(NOW - 5 * 60_000).toISOString(),
    ...over,
  };
}

/** The unhandled rejections seen while `fn` runs and a little after. */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const on = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', on);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off('unhandledRejection', on);
  }
  return seen;
}

function keysOf(m: Messages, prefix = ''): string[] {
  return Object.entries(m).flatMap(([k, v]) => (typeof v === 'string' ? [`${prefix}${k}`] : keysOf(v, `${prefix}${k}.`)));
}

describe('catalogs', () => {
  it('Thai has every English key, and each Thai string keeps the same {{values}}', () => {
    const en = keysOf(realtimeEn).sort();
    expect(keysOf(realtimeTh).sort()).toEqual(en);
    const slots = (s: string): string[] => (s.match(/\{\{\w+\}\}/g) ?? []).sort();
    const get = (m: Messages, k: string): string => k.split('.').reduce<Messages | string>((o, p) => (o as Messages)[p] as Messages | string, m) as string;
    for (const k of en) expect(slots(get(realtimeTh, k)), k).toEqual(slots(get(realtimeEn, k)));
  });
});

describe('RealtimeI18nProvider', () => {
  it('speaks English without a provider, Thai with lang="th", with Thai numbers, dates and relative times through Intl', () => {
    const users: PresenceData[] = [{ userId: 'u', username: 'U', status: 'online', lastSeen: '', currentLocation: { page: 'orders', section: 'order-1' }, activity: presenceActivity('editingOrder', { id: 1 }) }];
    const plain = render(<PresenceIndicator users={users} />);
    expect(plain.container.textContent).toContain('On Orders › Order #1');
    expect(plain.container.textContent).toContain('Editing order #1');
    cleanup();
    const th = render(
      <RealtimeI18nProvider lang="th-TH" now={now}>
        <PresenceIndicator users={users} />
      </RealtimeI18nProvider>,
    );
    expect(th.container.textContent).toContain('อยู่ที่ คำสั่งซื้อ › คำสั่งซื้อ #1');
    expect(th.container.textContent).toContain('กำลังแก้ไขคำสั่งซื้อ #1');
    const i18n = createRealtimeI18n({ lang: 'th', now });
    expect(i18n.formatNumber(13176)).toBe(new Intl.NumberFormat('th-TH').format(13176));
    expect(i18n.relativeTime(NOW - 5 * 60_000)).toBe(new Intl.RelativeTimeFormat('th-TH', { numeric: 'auto' }).format(-5, 'minute'));
    expect(i18n.formatDate(NOW)).toContain('2569'); // the Buddhist era
  });

  it("takes react-i18next's t for the realtime namespace, falling back to the package for keys it lacks", async () => {
    const inst = i18next.createInstance();
    await inst.use(initReactI18next).init({
      lng: 'th',
      ns: ['realtime'],
      defaultNS: 'realtime',
      resources: { th: { realtime: { ...realtimeResources.th, activity: { ...(realtimeResources.th['activity'] as Messages), title: 'กิจกรรมล่าสุด' } } } },
      interpolation: { escapeValue: false },
    });
    function Bridge({ children }: { children: ReactNode }): ReactElement {
      const { t, i18n } = useTranslation('realtime');
      return (
        <RealtimeI18nProvider t={(k, v) => t(k, v ?? {})} lang={i18n.language} now={now}>
          {children}
        </RealtimeI18nProvider>
      );
    }
    function Title(): ReactElement {
      return <ConnectionStatus status="reconnecting" latency={42} />;
    }
    const r = render(
      <I18nextProvider i18n={inst}>
        <Bridge>
          <Title />
          <ActivityFeed activities={[entry({ action: 'viewed' })]} />
        </Bridge>
      </I18nextProvider>,
    );
    expect(r.container.textContent).toContain('กำลังเชื่อมต่อใหม่…');
    // No latency figure while the connection is not open.
    expect(r.container.querySelector('[data-testid=latency]')).toBeNull();
    expect(r.container.textContent).toContain('Ann ดูคำสั่งซื้อ #7');
  });

  it("shows names as typed through react-i18next's t with i18next's default escaping left on", async () => {
    const inst = i18next.createInstance();
    // The catalogs as the realtime namespace, as the README says; escapeValue not set.
    await inst.use(initReactI18next).init({ lng: 'en', ns: ['realtime'], defaultNS: 'realtime', resources: { en: { realtime: realtimeResources.en } } });
    function Bridge({ children }: { children: ReactNode }): ReactElement {
      const { t, i18n } = useTranslation('realtime', { i18n: inst });
      return (
        <RealtimeI18nProvider t={(k, v) => t(k, v ?? {})} lang={i18n.language}>
          {children}
        </RealtimeI18nProvider>
      );
    }
    const name = "Siam Trading & Sons / O'Neil <b>";
    const r = render(
      <Bridge>
        <LockBanner lock={{ entityType: 'order', entityId: '1', lockedBy: 'u2', lockedByName: name, lockedAt: '', expiresAt: '' }} isLocked lockedByMe={false} />
      </Bridge>,
    );
    expect(r.getByTestId('lock-banner').textContent).toContain(name);
    expect(r.getByTestId('lock-banner').querySelector('b')).toBeNull();
  });
});

describe('PresenceIndicator', () => {
  // Presence data from the server carries no mousePosition: positions come
  // as a room's cursor events (PROTOCOL.md, "cursor → cursor event").
  it('shows with showMouseCursor where each user\'s pointer is, from the room\'s cursors', () => {
    const users: PresenceData[] = ['ann', 'bob', 'cleo'].map((id) => ({ userId: id, username: id, status: 'online', lastSeen: '', currentLocation: { page: '' } }));
    const cursors: CursorPosition[] = [
      { room: 'order-7', userId: 'bob', username: 'bob', x: 120.4, y: 300, updatedAt: NOW },
      { room: 'order-7', userId: 'cleo', username: 'cleo', anchor: { elementId: 'field-notes' }, updatedAt: NOW },
    ];
    const r = render(<PresenceIndicator users={users} cursors={cursors} showMouseCursor />);
    const rows = [...r.container.querySelectorAll('li[data-user]')].map((x) => `${x.getAttribute('data-user')}: ${x.textContent?.includes('Pointer at') ? x.textContent.slice(x.textContent.indexOf('Pointer at')) : '-'}`);
    expect(rows).toEqual(['ann: -', 'bob: Pointer at 120, 300', 'cleo: -']);
    r.rerender(<PresenceIndicator users={users} cursors={cursors} />);
    expect(r.container.textContent).not.toContain('Pointer at');
  });

  it("shows no position for a cursor anchored to an element, even when the user's data has a mousePosition", () => {
    const users: PresenceData[] = ['cleo', 'dan'].map((id) => ({ userId: id, username: id, status: 'online', lastSeen: '',
      currentLocation: { page: '' }, mousePosition: { x: 5, y: 6 } }));
    const cursors: CursorPosition[] = [{ room: 'order-7', userId: 'cleo', username: 'cleo', anchor: { elementId: 'field-notes' }, updatedAt: NOW }];
    const r = render(<PresenceIndicator users={users} cursors={cursors} showMouseCursor />);
    const rows = [...r.container.querySelectorAll('li[data-user]')].map((x) => `${x.getAttribute('data-user')}: ${x.textContent?.includes('Pointer at') ? x.textContent.slice(x.textContent.indexOf('Pointer at')) : '-'}`);
    // Without a cursor, the application's mousePosition shows.
    expect(rows).toEqual(['cleo: -', 'dan: Pointer at 5, 6']);
  });
});

describe('ActivityFeed', () => {
  it('names the field with its old and new value; a first field edit recorded as "created" reads as an edit', () => {
    const first = entry({ id: 'a2', action: 'created', changes: [{ field: 'customer', before: null, after: { name: 'Lanna Co.' } }] });
    expect(shownAction(first)).toBe('updated');
    expect(shownAction(entry({ action: 'created', changes: [{ field: '', before: null, after: {} }] }))).toBe('created');
    const r = render(
      <RealtimeI18nProvider now={now}>
        <ActivityFeed
          activities={[entry({ changes: [{ field: 'status', before: 'pending', after: 'shipped' }] }), first]}
          fieldLabel={(p) => ({ status: 'Status', 'customer.name': 'Customer' })[p]}
        />
      </RealtimeI18nProvider>,
    );
    const rows = [...r.container.querySelectorAll('[data-testid=activity-entry]')];
    expect(rows.map((x) => x.getAttribute('data-action'))).toEqual(['updated', 'updated']);
    expect(rows[0]?.textContent).toContain('Ann changed Status');
    expect(rows[0]?.textContent).toContain('5 minutes ago');
    expect(rows[0]?.querySelector('.rtc-before')?.textContent).toBe('pending');
    expect(rows[0]?.querySelector('.rtc-after')?.textContent).toBe('shipped');
    expect(rows[1]?.textContent).toContain('Ann changed Customer');
    expect(rows[1]?.querySelector('.rtc-after')?.textContent).toBe('Lanna Co.');
  });

  it('puts more than three changes behind a toggle that says whether it is open', () => {
    const changes = Array.from({ length: 5 }, (_, i) => ({ field: `f${i}`, before: i, after: i + 1 }));
    const r = render(<ActivityFeed activities={[entry({ id: 'has space', changes })]} />);
    expect(r.container.querySelector('.rtc-changes')).toBeNull();
    expect(r.container.textContent).toContain('Ann changed 5 fields');
    const toggle = r.getByRole('button', { name: 'Show details' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const details = r.container.querySelector(`#${CSS.escape(toggle.getAttribute('aria-controls') ?? '')}`);
    expect(details?.querySelectorAll('li').length).toBe(5);
  });

  it('shows only the scoped entity, a page at a time, and never scrolls the page', () => {
    const scrolls: unknown[] = [];
    Element.prototype.scrollIntoView = function (...args: unknown[]) {
      scrolls.push(args);
    };
    const many = Array.from({ length: 30 }, (_, i) => entry({ id: `x${i}`, action: 'viewed', entity: { type: 'order', id: i % 2 ? '7' : '8', name: '' } }));
    const r = render(<ActivityFeed activities={many} entity={{ type: 'order', id: '7' }} pageSize={10} />);
    expect(r.container.querySelectorAll('[data-testid=activity-entry]').length).toBe(10);
    expect(r.container.textContent).not.toContain('Order #8');
    fireEvent.click(r.getByTestId('activity-more'));
    expect(r.container.querySelectorAll('[data-testid=activity-entry]').length).toBe(15);
    expect(r.queryByTestId('activity-more')).toBeNull();
    act(() => r.rerender(<ActivityFeed activities={[entry({ id: 'new', action: 'viewed' }), ...many]} entity={{ type: 'order', id: '7' }} pageSize={10} />));
    expect(scrolls).toEqual([]);
    // The filters are labelled.
    expect(r.getByLabelText('Action')).toBeTruthy();
  });

  it('filters by an entity type named "all" and back to all types; the action filter likewise', () => {
    const r = render(
      <ActivityFeed
        activities={[
          entry({ id: 'a1', action: 'viewed', entity: { type: 'all', id: '1', name: 'All #1' } }),
          entry({ id: 'a2', action: 'viewed', entity: { type: 'order', id: '2', name: 'Order #2' } }),
          entry({ id: 'a3', action: 'deleted', entity: { type: 'order', id: '3', name: 'Order #3' } }),
        ]}
      />,
    );
    const rows = (): string[] => [...r.container.querySelectorAll('[data-testid=activity-entry]')].map((x) => x.textContent ?? '');
    const types = r.getByTestId('filter-entity') as HTMLSelectElement;
    expect([...types.options].map((o) => o.textContent)).toEqual(['All types', 'all', 'Orders']);
    fireEvent.change(types, { target: { value: types.options[1]!.value } }); // the type named "all"
    expect(rows()).toHaveLength(1);
    expect(types.selectedIndex).toBe(1);
    fireEvent.change(types, { target: { value: types.options[0]!.value } }); // All types
    expect(rows()).toHaveLength(3);
    const actions = r.getByTestId('filter-action') as HTMLSelectElement;
    fireEvent.change(actions, { target: { value: [...actions.options].find((o) => o.textContent === 'Deleted')!.value } });
    expect(rows()).toHaveLength(1);
    fireEvent.change(actions, { target: { value: actions.options[0]!.value } });
    expect(rows()).toHaveLength(3);
  });

  it('stops offering older activity once maxItems entries show, as nothing it loads could appear', () => {
    const many = (n: number): ActivityLog[] => Array.from({ length: n }, (_, i) => entry({ id: `p${i}`, timestamp: new Date(NOW - i * 1000).toISOString() }));
    let loads = 0;
    const onLoadMore = (): void => void loads++;
    const r = render(<ActivityFeed activities={many(20)} maxItems={20} pageSize={10} hasMore onLoadMore={onLoadMore} />);
    fireEvent.click(r.getByTestId('activity-more'));
    expect(r.container.querySelectorAll('[data-testid=activity-entry]').length).toBe(20);
    expect(r.queryByTestId('activity-more')).toBeNull();
    // More loaded elsewhere still leaves the 20 newest, and no offer.
    r.rerender(<ActivityFeed activities={many(30)} maxItems={20} pageSize={10} hasMore onLoadMore={onLoadMore} />);
    expect(r.container.querySelectorAll('[data-testid=activity-entry]').length).toBe(20);
    expect(r.queryByTestId('activity-more')).toBeNull();
    expect(loads).toBe(0);
    // Below the cap it is offered, and loads.
    r.rerender(<ActivityFeed activities={many(15)} maxItems={20} pageSize={10} hasMore onLoadMore={onLoadMore} />);
    expect(r.container.querySelectorAll('[data-testid=activity-entry]').length).toBe(15);
    fireEvent.click(r.getByTestId('activity-more'));
    expect(loads).toBe(1);
  });

  // A resent change announces its activity entry again, with the same id
  // (PROTOCOL.md, "Rules every client needs", 3), and a live entry may also
  // be in a page loaded from the server.
  it('shows an entry that arrives twice (the same id) once, the newest copy, and pages without it', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    // The seed's way of adding live entries: setActivities((prev) => [message.payload, ...prev].slice(0, 100)).
    let activities: ActivityLog[] = [];
    const live = (a: ActivityLog): void => void (activities = [a, ...activities].slice(0, 100));
    live(entry({ id: 'e1', username: 'Ann' }));
    live(entry({ id: 'e1', username: 'Ann Lee' }));
    const r = render(<ActivityFeed activities={activities} showDetails={false} />);
    const rows = (): string[] => [...r.container.querySelectorAll('[data-testid=activity-entry]')].map((x) => x.textContent ?? '');
    expect(rows()).toEqual([expect.stringContaining('Ann Lee updated Order #7')]);
    // A loaded page holds e3 and e2; e3 also arrives live.
    const page = [entry({ id: 'e3', action: 'viewed' }), entry({ id: 'e2', action: 'viewed' })];
    r.rerender(<ActivityFeed activities={[entry({ id: 'e3', action: 'viewed' }), ...page]} pageSize={2} />);
    expect(r.container.querySelectorAll('[data-testid=activity-entry]')).toHaveLength(2);
    expect(r.queryByTestId('activity-more')).toBeNull();
    expect(errors.mock.calls.filter((c) => String(c[0]).includes('same key'))).toEqual([]);
  });

  it('says so when onLoadMore fails, instead of leaving its rejection unhandled', async () => {
    const many = Array.from({ length: 5 }, (_, i) => entry({ id: `m${i}` }));
    let r!: ReturnType<typeof render>;
    const seen = await unhandledDuring(async () => {
      r = render(<ActivityFeed activities={many} pageSize={10} hasMore onLoadMore={() => Promise.reject(Object.assign(new Error('x'), { code: 'DISCONNECTED' }))} />);
      await act(async () => {
        fireEvent.click(r.getByTestId('activity-more'));
      });
    });
    expect(seen).toEqual([]);
    expect(r.getByRole('alert').textContent).toBe('Not connected');
  });
});

describe('LockBanner', () => {
  it('says so when taking or releasing the lock fails, instead of leaving the rejection unhandled', async () => {
    const refused = (): Promise<never> => Promise.reject(Object.assign(new Error('no answer'), { code: 'TIMEOUT' }));
    let r!: ReturnType<typeof render>;
    const seen = await unhandledDuring(async () => {
      r = render(<LockBanner lock={null} isLocked={false} lockedByMe={false} onAcquireLock={refused} />);
      await act(async () => {
        fireEvent.click(r.getByRole('button', { name: 'Start editing' }));
      });
      expect(r.getByRole('alert').textContent).toBe('The server did not answer in time');
      r.rerender(<LockBanner lock={null} isLocked={false} lockedByMe onReleaseLock={refused} />);
      await act(async () => {
        fireEvent.click(r.getByTestId('finish-editing'));
      });
    });
    expect(seen).toEqual([]);
    expect(r.getByRole('alert').textContent).toBe('The server did not answer in time');
  });
});

describe('LockBanner with an expired lock', () => {
  const expired = { entityType: 'order', entityId: '1001', lockedBy: 'u1', lockedAt: '', expiresAt: '', fencingToken: 3 };

  it('says this user\'s lock on the entity expired, with Start editing to take it again', async () => {
    const acquire = vi.fn(() => Promise.resolve());
    const r = render(<LockBanner lock={null} isLocked={false} lockedByMe={false} expiredLock={expired} onAcquireLock={acquire} />);
    const banner = r.getByTestId('lock-expired');
    expect(banner.getAttribute('role')).toBe('status');
    expect(banner.className).toContain('rtc-banner-warning');
    expect(banner.textContent).toContain('Your lock on Order #1001 expired');
    await act(async () => {
      fireEvent.click(r.getByRole('button', { name: 'Start editing' }));
    });
    expect(acquire).toHaveBeenCalledTimes(1);
    // Without onAcquireLock it still says so, with no button.
    r.rerender(<LockBanner lock={null} isLocked={false} lockedByMe={false} expiredLock={expired} />);
    expect(r.getByTestId('lock-expired').textContent).toContain('Your lock on Order #1001 expired');
    expect(r.queryByRole('button')).toBeNull();
  });

  it('says who edits the entity now when another user took the lock after it expired, in the language', () => {
    const theirs = { entityType: 'order', entityId: '1001', lockedBy: 'u2', lockedByName: 'Ben', lockedAt: '', expiresAt: '' };
    const r = render(
      <LockBanner lock={theirs} isLocked lockedByMe={false} expiredLock={expired} onAcquireLock={() => undefined} />,
    );
    const banner = r.getByTestId('lock-expired');
    expect(banner.textContent).toContain('Your lock on Order #1001 expired');
    expect(banner.textContent).toContain('This order is being edited by Ben');
    expect(r.queryByRole('button')).toBeNull();
    r.rerender(
      <RealtimeI18nProvider lang="th" now={now}>
        <LockBanner lock={null} isLocked={false} lockedByMe={false} expiredLock={{ ...expired, entityType: 'widget' }} />
      </RealtimeI18nProvider>,
    );
    expect(r.getByTestId('lock-expired').textContent).toContain('widget 1001');
    expect(r.getByTestId('lock-expired').textContent).not.toContain('Your lock');
  });

  it('shows the lock held, not the expiry, once this user holds the lock again', () => {
    const r = render(<LockBanner lock={{ ...expired, fencingToken: 4 }} isLocked={false} lockedByMe expiredLock={expired} />);
    expect(r.queryByTestId('lock-expired')).toBeNull();
    expect(r.getByTestId('lock-mine')).toBeTruthy();
  });
});

describe('hostile entries', () => {
  it('render without throwing: bad times, huge numbers, any code point, odd values', () => {
    const odd = '\u202e\u0000\ud83d\ude00'.repeat(50) + 'x'.repeat(5000);
    const r = render(
      <RealtimeI18nProvider lang="th" now={now}>
        <ActivityFeed
          activities={[
            entry({ id: 'h1', timestamp: 'not a time', username: odd, changes: [{ field: odd, before: Number.MAX_VALUE, after: -Number.MAX_VALUE }] }),
            entry({ id: 'h2', entity: { type: odd, id: odd, name: odd }, changes: [{ field: 'a', before: { deep: [1, { x: null }] }, after: true }] }),
          ]}
        />
        <CollaborationPanel
          activeUsers={[]}
          defaultTab="history"
          changeHistory={[{ id: 'c', entityId: '7', entityType: 'order', userId: odd, operation: 'update', path: odd, before: null, after: Number.MIN_SAFE_INTEGER, version: Number.MAX_SAFE_INTEGER, timestamp: 'never' } as Change]}
        />
      </RealtimeI18nProvider>,
    );
    expect(r.container.querySelectorAll('[data-testid=activity-entry]').length).toBe(2);
    expect(r.getByTestId('history').textContent).toContain(new Intl.NumberFormat('th-TH').format(Number.MAX_SAFE_INTEGER));
  });
});

describe('stored numbers', () => {
  const at = new Date(NOW).toISOString();
  const side = (v: number, after: number, userId: string): Change =>
    ({ id: `c${v}`, entityId: '7', entityType: 'pricing', userId, operation: 'update', path: 'rate', before: 1, after, version: v, timestamp: at, resolved: false }) as Change;

  it('show every digit in the feed, the history and a conflict, not rounded to three decimals', () => {
    const feed = render(<ActivityFeed activities={[entry({ changes: [{ field: 'price', before: 0.1, after: 0.1004 }] })]} />);
    expect(feed.container.querySelector('.rtc-before')?.textContent).toBe('0.1');
    expect(feed.container.querySelector('.rtc-after')?.textContent).toBe('0.1004');
    cleanup();
    const history = render(<CollaborationPanel activeUsers={[]} defaultTab="history"
      changeHistory={[{ ...side(2, 1.0001, 'ann'), before: 1.0004, resolved: true }]} />);
    expect(history.getByTestId('history').textContent).toContain('1.0004');
    expect(history.getByTestId('history').textContent).toContain('1.0001');
    cleanup();
    const conflicts = render(<CollaborationPanel activeUsers={[]} defaultTab="conflicts" onResolveConflict={() => {}}
      conflicts={[{ id: 'k', entityType: 'pricing', entityId: '7', path: 'rate', resolved: false, localChange: side(3, 1.0004, 'ann'), remoteChange: side(4, 1.0001, 'bob') }]} />);
    const text = conflicts.getByTestId('conflicts').textContent ?? '';
    expect(text).toContain('Mine: 1.0004');
    expect(text).toContain('Theirs: 1.0001');
  });

  it('read the same in English and Thai: the shortest exact digits, grouped; huge and tiny ones in scientific notation', () => {
    const cases: [number, string][] = [
      [0.30000000000000004, '0.30000000000000004'],
      [123456789.123, '123,456,789.123'],
      [Number.MAX_SAFE_INTEGER, '9,007,199,254,740,991'],
      [-12.5, '-12.5'],
      [0, '0'],
      [0.000001234, '0.000001234'],
      [1e300, '1E300'],
      [Number.MAX_VALUE, '1.7976931348623157E308'],
      [5e-324, '5E-324'],
      [-5e-324, '-5E-324'],
    ];
    for (const lang of ['en', 'th']) {
      const i18n = createRealtimeI18n({ lang, now });
      expect(cases.map(([n]) => showValue(i18n, n))).toEqual(cases.map(([, s]) => s));
      // Counts keep the language's default format.
      expect(i18n.formatNumber(1234.5678)).toBe(new Intl.NumberFormat(lang === 'th' ? 'th-TH' : 'en-US').format(1234.5678));
    }
  });
});

describe('CollaborationPanel', () => {
  it('moves between tabs with the arrow keys, Home and End (one tab stop)', () => {
    const history: Change[] = [
      { id: 'c1', entityId: '7', entityType: 'order', userId: 'ann', operation: 'update', path: 'notes', before: '', after: 'x', version: 1, timestamp: new Date(NOW).toISOString() } as Change,
    ];
    const r = render(<CollaborationPanel activeUsers={[]} changeHistory={history} />);
    const tab = (k: string): HTMLElement => r.getByTestId(`tab-${k}`);
    expect(tab('collaborators').tabIndex).toBe(0);
    expect(tab('comments').tabIndex).toBe(-1);
    fireEvent.keyDown(tab('collaborators'), { key: 'ArrowRight' });
    expect(tab('comments').getAttribute('aria-selected')).toBe('true');
    fireEvent.keyDown(tab('comments'), { key: 'End' });
    expect(tab('conflicts').getAttribute('aria-selected')).toBe('true');
    fireEvent.keyDown(tab('conflicts'), { key: 'ArrowRight' });
    expect(tab('collaborators').getAttribute('aria-selected')).toBe('true');
    fireEvent.keyDown(tab('collaborators'), { key: 'ArrowLeft' });
    expect(tab('conflicts').getAttribute('aria-selected')).toBe('true');
    fireEvent.keyDown(tab('conflicts'), { key: 'Home' });
    fireEvent.click(tab('history'));
    expect(r.getByTestId('history').textContent).toContain('v1');
  });
});

describe('CollaborationPanel with an expired lock', () => {
  const expired = { entityType: 'order', entityId: '1001', lockedBy: 'u1', lockedAt: '', expiresAt: '', fencingToken: 3 };

  it('says this user\'s lock expired as LockBanner does, with Start editing to take it again', async () => {
    const acquire = vi.fn(() => Promise.resolve());
    const r = render(<CollaborationPanel activeUsers={[]} lock={null} isLocked={false} lockedByMe={false} expiredLock={expired} onAcquireLock={acquire} />);
    const banner = r.getByTestId('lock-expired');
    expect(banner.getAttribute('role')).toBe('status');
    expect(banner.className).toContain('rtc-banner-warning');
    expect(banner.textContent).toContain('Your lock on Order #1001 expired');
    expect(r.queryByTestId('lock-state')).toBeNull(); // not also "No one is editing"
    await act(async () => {
      fireEvent.click(r.getByRole('button', { name: 'Start editing' }));
    });
    expect(acquire).toHaveBeenCalledTimes(1);
  });

  it('says who edits the entity now when another user took the lock, and the lock held once this user takes it again', () => {
    const theirs = { entityType: 'order', entityId: '1001', lockedBy: 'u2', lockedByName: 'Ben', lockedAt: '', expiresAt: '' };
    const r = render(<CollaborationPanel activeUsers={[]} lock={theirs} isLocked lockedByMe={false} expiredLock={expired} onAcquireLock={() => undefined} />);
    const banner = r.getByTestId('lock-expired');
    expect(banner.textContent).toContain('Your lock on Order #1001 expired');
    expect(banner.textContent).toContain('This order is being edited by Ben');
    expect(r.queryByRole('button', { name: 'Start editing' })).toBeNull();
    r.rerender(<CollaborationPanel activeUsers={[]} lock={{ ...expired, fencingToken: 4 }} isLocked={false} lockedByMe expiredLock={expired} onReleaseLock={() => undefined} />);
    expect(r.queryByTestId('lock-expired')).toBeNull();
    expect(r.getByTestId('lock-state').textContent).toContain('You are editing');
    r.rerender(<CollaborationPanel activeUsers={[]} lock={null} isLocked={false} lockedByMe={false} expiredLock={null} onAcquireLock={() => undefined} />);
    expect(r.queryByTestId('lock-expired')).toBeNull();
    expect(r.getByTestId('acquire-lock')).toBeTruthy();
  });
});

describe('CommentThread', () => {
  it('keeps the typed text when adding the comment fails, and clears it once added', async () => {
    let answer: Promise<void> = Promise.reject(Object.assign(new Error('refused'), { code: 'FORBIDDEN' }));
    answer.catch(() => {});
    const sent: string[] = [];
    const r = render(<CommentThread comments={[]} onAddComment={(text) => (sent.push(text), answer)} />);
    const input = r.getByTestId('comment-input') as HTMLTextAreaElement;
    fireEvent.change(input, { target: { value: 'Ship on Monday' } });
    await act(async () => {
      fireEvent.click(r.getByTestId('comment-submit'));
    });
    expect(sent).toEqual(['Ship on Monday']);
    expect(input.value).toBe('Ship on Monday');
    expect(r.getByRole('alert')).toBeTruthy();
    answer = Promise.resolve();
    await act(async () => {
      fireEvent.click(r.getByTestId('comment-submit'));
    });
    expect(sent).toEqual(['Ship on Monday', 'Ship on Monday']);
    expect(input.value).toBe('');
    expect(r.queryByRole('alert')).toBeNull();
  });
});

describe('leafChanges', () => {
  it('lists the fields an object change set, bounded', () => {
    expect(leafChanges([{ field: 'customer', before: { name: 'A' }, after: { name: 'B', email: 'b@x' } }])).toEqual([
      { field: 'customer.name', before: 'A', after: 'B' },
      { field: 'customer.email', before: undefined, after: 'b@x' },
    ]);
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
    expect(leafChanges([{ field: '', before: null, after: wide }]).length).toBe(20);
    expect(leafChanges([{ field: 'tags', before: [], after: ['a'] }])).toEqual([{ field: 'tags', before: [], after: ['a'] }]);
  });
});
