import { useEffect, useRef, useState, type ReactElement } from 'react';
import { getPath, type DocumentValue } from '@omnisales/rtcollab-client';
import type { UseRealtimeSyncResult, UseRoomPresenceResult } from '@omnisales/rtcollab-client/react';
import { errorCode, errorText, LiveCursors, LockBanner, useRealtimeI18n, type Translate } from '@omnisales/rtcollab-client/ui';

/** The order as it starts, before anyone edited it: every field shows this until a change sets it. */
export const DEFAULT_ORDER = {
  customer: { name: 'Siam Trading Co.', email: 'buyer@siamtrading.example' },
  status: 'pending',
  shipping: '99 Sukhumvit Rd, Khlong Toei, Bangkok 10110',
  notes: '',
  items: {
    rice: { name: 'Jasmine rice 5 kg', qty: 10, price: 250 },
    oil: { name: 'Coconut oil 1 L', qty: 24, price: 89 },
    sauce: { name: 'Fish sauce 700 ml', qty: 12, price: 45 },
  },
};

const STATUSES = ['pending', 'confirmed', 'shipped', 'delivered', 'cancelled'];

/** What the order form needs from useRealtimeSync. */
export type OrderSync = Pick<
  UseRealtimeSyncResult,
  'document' | 'isLocked' | 'lockedByMe' | 'lock' | 'expiredLock' | 'syncState' | 'version' | 'localChanges' | 'pushChange' | 'acquireLock' | 'releaseLock'
>;

/** What the order form needs from useRoomPresence. */
export type OrderRoom = Pick<UseRoomPresenceResult, 'cursors' | 'updateCursor'>;

function valueAt(doc: DocumentValue, path: string): unknown {
  const v = getPath(doc, path);
  return v === undefined ? getPath(DEFAULT_ORDER, path) : v;
}

/** The label of an order field by its path, for the activity feed and the history. */
export function orderFieldLabel(t: Translate, path: string): string | undefined {
  const item = /^items\.(\w+)\.(qty|price|name)$/.exec(path);
  if (item) {
    const it = (DEFAULT_ORDER.items as Record<string, { name: string }>)[item[1] as string];
    const field = t(item[2] === 'qty' ? 'demo.quantity' : item[2] === 'price' ? 'demo.price' : 'demo.product');
    return it ? t('demo.itemField', { item: it.name, field }) : undefined;
  }
  const keys: Record<string, string> = {
    'customer.name': 'demo.customer',
    'customer.email': 'demo.email',
    status: 'demo.status',
    shipping: 'demo.shipping',
    notes: 'demo.notes',
  };
  return keys[path] === undefined ? undefined : t(keys[path]);
}

interface FieldProps {
  path: string;
  label: string;
  /** Keep the label for screen readers only (the table's header says it). */
  hideLabel?: boolean;
  sync: OrderSync;
  kind?: 'input' | 'textarea' | 'select' | 'number';
  options?: { value: string; label: string }[];
  onError: (code: string) => void;
  /** Shown in the activity feed of readers without this page's strings. */
  entityName: string;
}

/** One field edited live: local keystrokes are sent after a short pause, remote changes show at once. */
function Field({ path, label, hideLabel = false, sync, kind = 'input', options, onError, entityName }: FieldProps): ReactElement {
  const current = valueAt(sync.document, path);
  const [draft, setDraft] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef({ draft, current, sync });
  latest.current = { draft, current, sync };

  const flush = (): void => {
    if (timer.current !== null) {
      clearTimeout(timer.current);
      timer.current = null;
    }
    const { draft: d, current: before, sync: s } = latest.current;
    if (d === null) return;
    const after: unknown = kind === 'number' ? Number(d) : d;
    setDraft(null);
    if (after === before) return;
    s.pushChange({ operation: 'update', path, before, after, metadata: { entityName } }).catch((err: unknown) => onError(errorCode(err)));
  };
  useEffect(() => () => flush(), []); // eslint-disable-line react-hooks/exhaustive-deps

  const readOnly = sync.isLocked;
  const onFocus = (): void => {
    if (!sync.lockedByMe && !sync.isLocked) {
      sync.acquireLock().then(
        (lock) => {
          if (lock === null) onError('LOCK_HELD');
        },
        (err: unknown) => onError(errorCode(err)),
      );
    }
  };
  const onChange = (v: string): void => {
    setDraft(v);
    latest.current.draft = v;
    if (timer.current !== null) clearTimeout(timer.current);
    timer.current = setTimeout(flush, kind === 'select' ? 0 : 300);
  };
  const shown = draft ?? (current === undefined || current === null ? '' : String(current));
  const common = {
    id: `field-${path}`,
    'data-field': path,
    value: shown,
    readOnly,
    disabled: kind === 'select' && readOnly,
    onFocus,
    onBlur: flush,
  };
  return (
    <label className={`field field-${kind}`}>
      <span className={hideLabel ? 'rtc-sr-only' : 'field-label'}>{label}</span>
      {kind === 'textarea' ? (
        <textarea {...common} onChange={(e) => onChange(e.target.value)} rows={3} />
      ) : kind === 'select' ? (
        <select {...common} onChange={(e) => onChange(e.target.value)}>
          {(options ?? []).map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      ) : (
        <input {...common} type={kind === 'number' ? 'number' : 'text'} inputMode={kind === 'number' ? 'decimal' : undefined} onChange={(e) => onChange(e.target.value)} />
      )}
    </label>
  );
}

export interface OrderEditorProps {
  orderId: string;
  sync: OrderSync;
  room: OrderRoom;
}

/** The order form: field-level live editing, the lock banner and live cursors. */
export function OrderEditor({ orderId, sync, room }: OrderEditorProps): ReactElement {
  const { t, formatNumber } = useRealtimeI18n();
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (error === null) return undefined;
    const id = setTimeout(() => setError(null), 5000);
    return () => clearTimeout(id);
  }, [error]);
  const onError = (code: string): void => setError(errorText(t, code));
  const entityName = `Order #${orderId}`;
  const items = Object.entries(DEFAULT_ORDER.items);
  const total = items.reduce((sum, [sku]) => {
    const qty = Number(valueAt(sync.document, `items.${sku}.qty`)) || 0;
    const price = Number(valueAt(sync.document, `items.${sku}.price`)) || 0;
    return sum + qty * price;
  }, 0);
  return (
    <div
      className="order-editor"
      ref={box}
      data-testid="order-editor"
      onMouseMove={(e) => {
        const r = box.current?.getBoundingClientRect();
        if (r) room.updateCursor(e.clientX - r.left, e.clientY - r.top);
      }}
    >
      <header className="order-header">
        <h1>{t('entities.order', { id: orderId })}</h1>
        <span className="rtc-muted rtc-small" data-testid="sync-state" data-state={sync.syncState} data-version={sync.version}>
          {t(`sync.${sync.syncState}`)} · {t('sync.version', { version: formatNumber(sync.version) })}
          {sync.localChanges.length > 0 && <> · {t('sync.pending', { count: formatNumber(sync.localChanges.length) })}</>}
        </span>
      </header>
      <LockBanner
        lock={sync.lock}
        isLocked={sync.isLocked}
        lockedByMe={sync.lockedByMe}
        expiredLock={sync.expiredLock}
        onReleaseLock={() => sync.releaseLock()}
      />
      {error !== null && (
        <div className="rtc-banner rtc-banner-error" role="alert" data-testid="editor-error">
          {error}
        </div>
      )}
      <div className="form-grid">
        <Field path="customer.name" label={t('demo.customer')} sync={sync} onError={onError} entityName={entityName} />
        <Field path="customer.email" label={t('demo.email')} sync={sync} onError={onError} entityName={entityName} />
        <Field
          path="status"
          label={t('demo.status')}
          kind="select"
          options={STATUSES.map((s) => ({ value: s, label: t(`demo.statuses.${s}`) }))}
          sync={sync}
          onError={onError}
          entityName={entityName}
        />
        <Field path="shipping" label={t('demo.shipping')} sync={sync} onError={onError} entityName={entityName} />
        <Field path="notes" label={t('demo.notes')} kind="textarea" sync={sync} onError={onError} entityName={entityName} />
      </div>
      <h2 className="items-title">{t('demo.items')}</h2>
      <table className="items">
        <thead>
          <tr>
            <th scope="col">{t('demo.product')}</th>
            <th scope="col">{t('demo.quantity')}</th>
            <th scope="col">{t('demo.price')}</th>
          </tr>
        </thead>
        <tbody>
          {items.map(([sku, item]) => (
            <tr key={sku}>
              <td className="product">{String(valueAt(sync.document, `items.${sku}.name`) ?? item.name)}</td>
              <td>
                <Field path={`items.${sku}.qty`} label={t('demo.itemField', { item: item.name, field: t('demo.quantity') })} hideLabel kind="number" sync={sync} onError={onError} entityName={entityName} />
              </td>
              <td>
                <Field path={`items.${sku}.price`} label={t('demo.itemField', { item: item.name, field: t('demo.price') })} hideLabel kind="number" sync={sync} onError={onError} entityName={entityName} />
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <td>{t('demo.total')}</td>
            <td colSpan={2} className="total" data-testid="order-total">
              {formatNumber(total, { style: 'currency', currency: 'THB', currencyDisplay: 'narrowSymbol' })}
            </td>
          </tr>
        </tfoot>
      </table>
      <LiveCursors cursors={room.cursors} />
    </div>
  );
}
