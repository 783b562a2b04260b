// Screenshot comparison for the visual tests: PNGs decoded with pngjs,
// compared pixel by pixel with a small per-channel and per-image tolerance.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';

/** A channel differing by more than this counts the pixel as changed (anti-aliasing stays under it). */
export const CHANNEL_TOLERANCE = 48;
/** The share of changed pixels an image may have and still match its baseline. */
export const PIXEL_TOLERANCE = 0.002;

/**
 * Compares two PNG buffers. Returns { match, reason, changed, total, diff }:
 * diff is a PNG (changed pixels in red) when the sizes agree.
 */
export function comparePng(actualBuf, baselineBuf) {
  const a = PNG.sync.read(actualBuf);
  const b = PNG.sync.read(baselineBuf);
  if (a.width !== b.width || a.height !== b.height) {
    return { match: false, reason: `size ${a.width}x${a.height}, baseline ${b.width}x${b.height}`, changed: NaN, total: a.width * a.height };
  }
  const diff = new PNG({ width: a.width, height: a.height });
  let changed = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]), Math.abs(a.data[i + 2] - b.data[i + 2]), Math.abs(a.data[i + 3] - b.data[i + 3]));
    const hit = d > CHANNEL_TOLERANCE;
    if (hit) changed++;
    diff.data[i] = hit ? 255 : b.data[i] * 0.3 + 178;
    diff.data[i + 1] = hit ? 0 : b.data[i + 1] * 0.3 + 178;
    diff.data[i + 2] = hit ? 0 : b.data[i + 2] * 0.3 + 178;
    diff.data[i + 3] = 255;
  }
  const total = a.width * a.height;
  const match = changed / total <= PIXEL_TOLERANCE;
  return { match, reason: match ? '' : `${changed} of ${total} pixels differ (${((changed / total) * 100).toFixed(2)}%)`, changed, total, diff: PNG.sync.write(diff) };
}

/**
 * Checks `actual` against the baseline at `baselinePath`. With
 * UPDATE_BASELINES=1 it writes the baseline instead (review each one before
 * committing it). On a mismatch it writes the actual and the diff to
 * `artifactBase`-actual.png / -diff.png.
 */
export function matchBaseline(actual, baselinePath, artifactBase) {
  if (process.env.UPDATE_BASELINES === '1') {
    mkdirSync(dirname(baselinePath), { recursive: true });
    writeFileSync(baselinePath, actual);
    return { match: true, reason: 'baseline written', changed: 0, total: 0 };
  }
  if (!existsSync(baselinePath)) return { match: false, reason: `no baseline ${baselinePath} (run with UPDATE_BASELINES=1, then review it)` };
  const r = comparePng(actual, readFileSync(baselinePath));
  if (!r.match && artifactBase) {
    writeFileSync(`${artifactBase}-actual.png`, actual);
    if (r.diff) writeFileSync(`${artifactBase}-diff.png`, r.diff);
  }
  return r;
}
