interface CryptoLike {
  randomUUID?: () => string;
  getRandomValues?: <T extends ArrayBufferView | null>(array: T) => T;
}

function cryptoSource(): CryptoLike | undefined {
  const c = (globalThis as { crypto?: CryptoLike }).crypto;
  return typeof c === 'object' && c !== null ? c : undefined;
}

/**
 * A fresh, unique messageId: crypto.randomUUID where the platform has it
 * (browsers only offer it in secure contexts), else a v4 UUID built from
 * crypto.getRandomValues, else from Math.random.
 */
export function generateMessageId(): string {
  const c = cryptoSource();
  if (c?.randomUUID !== undefined) {
    try {
      return c.randomUUID();
    } catch {
      // fall through to the manual forms
    }
  }
  const bytes = new Uint8Array(16);
  if (c?.getRandomValues !== undefined) {
    c.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Largest channel name the server accepts. */
export const MAX_CHANNEL_LENGTH = 128;

/**
 * Whether `name` is a channel the server accepts: 1..128 characters of
 * [A-Za-z0-9._-], with at most one ':' separating a kind from an id
 * (`order:123`), never first or last.
 */
export function isValidChannel(name: string): boolean {
  if (name.length === 0 || name.length > MAX_CHANNEL_LENGTH) return false;
  if (!/^[A-Za-z0-9._:-]+$/.test(name)) return false;
  const colon = name.indexOf(':');
  if (colon === -1) return true;
  return colon > 0 && colon < name.length - 1 && name.indexOf(':', colon + 1) === -1;
}

/** Longest messageId the server accepts. */
export const MAX_MESSAGE_ID_LENGTH = 128;

/** Whether `id` is a messageId the server accepts: 1..128 printable ASCII characters (U+0021-U+007E). */
export function isValidMessageId(id: string): boolean {
  return typeof id === 'string' && id.length >= 1 && id.length <= MAX_MESSAGE_ID_LENGTH && /^[\x21-\x7e]+$/.test(id);
}

/** Bytes of `s` encoded as UTF-8. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
