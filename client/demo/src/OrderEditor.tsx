import { useEffect, useRef, useState, type ReactElement } from 'react';
import { getPath, type DocumentValue } from '../../src/index.js';
import type { UseRealtimeSyncResult, UseRoomPresenceResult } from '../../src/react/index.js';
import { errorText, useTranslation } from './i18n.js';
import { colorOf } from './components/Avatar.js';

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

function valueAt(doc: DocumentValue, path: string): unknown {
  const v = getPath(doc, path);
  return v === undefined ? getPath(DEFAULT_ORDER, path) : v;
}

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : 'INTERNAL';
}

interface FieldProps {
  path: string;
  label: string;
  sync: UseRealtimeSyncResult;
  kind?: 'input' | 'textarea' | 'select' | 'number';
  options?: { value: string; label: string }[];
  onError: (code: string) => void;
  /** Shown in the activity feed. */
  entityName: string;
}

/** One field edited live: local keystrokes are sent after a short pause, remote changes show at once. */
function Field({ path, label, sync, kind = 'input', options, onError, entityName }: FieldProps): ReactElement {
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
    s.pushChange({ operation: 'update', path, before, after, metadata: { entityName } }).catch((err: unknown) => onError(codeOf(err)));
  };
  useEffect(() => () => flush(), []); // eslint-disable-line react-hooks/exhaustive-deps

  const readOnly = sync.isLocked;
  const onFocus = (): void => {
    if (!sync.lockedByMe && !sync.isLocked) {
      sync.acquireLock().then(
        (lock) => {
          if (lock === null) onError('LOCK_HELD');
        },
        (err: unknown) => onError(codeOf(err)),
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
      <span className="field-label">{label}</span>
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
        <input {...common} type={kind === 'number' ? 'number' : 'text'} onChange={(e) => onChange(e.target.value)} />
      )}
    </label>
  );
}

export interface OrderEditorProps {
  orderId: string;
  sync: UseRealtimeSyncResult;
  room: UseRoomPresenceResult;
}

/** The order form: field-level live editing, the lock banner and live cursors. */
export function OrderEditor({ orderId, sync, room }: OrderEditorProps): ReactElement {
  const { t } = useTranslation();
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
        <h1>{t('demo.order', { id: orderId })}</h1>
        <span className="muted small" data-testid="sync-state" data-state={sync.syncState} data-version={sync.version}>
          {t(`sync.${sync.syncState}`)} · {t('sync.version', { version: sync.version })}
          {sync.localChanges.length > 0 && <> · {t('sync.pending', { count: sync.localChanges.length })}</>}
        </span>
      </header>
      {sync.isLocked && (
        <div className="banner banner-warning" role="status" data-testid="lock-banner">
          {t('collaboration.lock.lockedBy', { name: sync.lock?.lockedByName ?? sync.lock?.lockedBy ?? '' })}
        </div>
      )}
      {sync.lockedByMe && (
        <div className="banner banner-info" role="status" data-testid="lock-mine">
          {t('collaboration.lock.lockedByMe')} <span className="muted small">{t('collaboration.lock.expires')}</span>
          <button type="button" onClick={() => void sync.releaseLock()} data-testid="finish-editing">
            {t('collaboration.lock.release')}
          </button>
        </div>
      )}
      {error !== null && (
        <div className="banner banner-error" role="alert" data-testid="editor-error">
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
      <h3>{t('demo.items')}</h3>
      <table className="items">
        <thead>
          <tr>
            <th>{t('demo.product')}</th>
            <th>{t('demo.quantity')}</th>
            <th>{t('demo.price')}</th>
          </tr>
        </thead>
        <tbody>
          {items.map(([sku, item]) => (
            <tr key={sku}>
              <td>{String(valueAt(sync.document, `items.${sku}.name`) ?? item.name)}</td>
              <td>
                <Field path={`items.${sku}.qty`} label="" kind="number" sync={sync} onError={onError} entityName={entityName} />
              </td>
              <td>
                <Field path={`items.${sku}.price`} label="" kind="number" sync={sync} onError={onError} entityName={entityName} />
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <td colSpan={2}>{t('demo.total')}</td>
            <td data-testid="order-total">฿{total.toLocaleString('en-US')}</td>
          </tr>
        </tfoot>
      </table>
      {room.cursors.map((c) =>
        c.x === undefined || c.y === undefined ? null : (
          <div
            key={c.userId}
            className="remote-cursor"
            data-testid="remote-cursor"
            data-user={c.userId}
            style={{ transform: `translate(${c.x}px, ${c.y}px)`, color: colorOf(c.userId) }}
          >
            <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">
              <path d="M0 0 L0 14 L4 10 L7 16 L9 15 L6 9 L12 9 Z" fill="currentColor" />
            </svg>
            <span className="cursor-label" style={{ background: colorOf(c.userId) }}>
              {c.username}
            </span>
          </div>
        ),
      )}
    </div>
  );
}
