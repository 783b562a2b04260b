// The translation check: every visible text node of a Thai page, against
// the English strings of the UI package and the demo. A node fails when it
// is an English string (a template's text, with any values), or when it
// holds a Latin word that the allow-list (product names, user data) does
// not cover.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

async function importTs(path) {
  const out = await build({ entryPoints: [path], bundle: true, write: false, format: 'esm', platform: 'neutral', logLevel: 'silent' });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}

function leaves(obj, out = []) {
  for (const v of Object.values(obj)) {
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object') leaves(v, out);
  }
  return out;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The English strings of the package and the demo, as whole-text patterns. */
export async function englishPatterns() {
  const { realtimeEn } = await importTs(join(here, '..', 'src', 'ui', 'index.ts'));
  const { demoMessages } = await importTs(join(here, '..', 'demo', 'src', 'messages.ts'));
  const strings = [...leaves(realtimeEn), ...leaves(demoMessages.en)];
  // A template with a value in it: its fixed parts, in order, around anything.
  return strings
    .filter((s) => /[A-Za-z]{2,}/.test(s.replace(/\{\{\w+\}\}/g, '')))
    .map((s) => ({ text: s, re: new RegExp(`^${s.split(/\{\{\w+\}\}/).map((p) => escape(p.trim())).join('.*?')}$`, 's') }));
}

/** Every visible text node under body (text, its parent's tag). */
export async function visibleTexts(page) {
  return page.evaluate(() => {
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = (n.textContent ?? '').replace(/\s+/g, ' ').trim();
      const el = n.parentElement;
      if (text === '' || !el || el.closest('style, script')) continue;
      const visible = el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true }) || el.closest('.rtc-sr-only') !== null;
      if (!visible && el.tagName !== 'OPTION') continue;
      out.push({ text, tag: el.tagName.toLowerCase() });
    }
    // Accessible names and placeholders are read or seen too.
    for (const el of document.querySelectorAll('[aria-label], [placeholder], [title]')) {
      for (const attr of ['aria-label', 'placeholder']) {
        const v = el.getAttribute(attr);
        if (v) out.push({ text: v.trim(), tag: `${el.tagName.toLowerCase()}[${attr}]` });
      }
    }
    return out;
  });
}

/**
 * The text nodes of a Thai page that come from English strings.
 * `allow` lists user data and product names (strings or regexps) that may be Latin.
 */
export function englishLeaks(texts, patterns, allow) {
  const leaks = [];
  for (const { text, tag } of texts) {
    let rest = text;
    for (const a of allow) rest = rest.replace(typeof a === 'string' ? new RegExp(escape(a), 'g') : new RegExp(a.source, 'g' + a.flags.replace('g', '')), ' ');
    const word = /[A-Za-z]{2,}/.exec(rest);
    if (!word) continue;
    const whole = patterns.find((p) => p.re.test(text));
    leaks.push({ text, tag, why: whole ? `English string "${whole.text}"` : `Latin word "${word[0]}"` });
  }
  return leaks;
}
