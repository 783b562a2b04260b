import { createElement, type ReactElement } from 'react';

/**
 * The components' stylesheet. Every colour, radius and font comes from a
 * --rtc-* custom property, so an application themes them by setting those
 * on any ancestor. The defaults pass WCAG 2.1 AA contrast.
 */
export const realtimeCss = `
:where(.rtc-root, :root) {
  --rtc-bg: #ffffff; --rtc-surface: #f5f6f8; --rtc-text: #1f2933; --rtc-muted: #4b5563; --rtc-line: #d9dde3;
  --rtc-accent: #1d4ed8; --rtc-accent-text: #ffffff; --rtc-focus: #1d4ed8;
  --rtc-warn-bg: #fff7e6; --rtc-warn: #92400e; --rtc-info-bg: #eef4ff; --rtc-info: #1e3a8a; --rtc-err-bg: #fdecec; --rtc-err: #991b1b;
  --rtc-online: #15803d; --rtc-away: #b45309; --rtc-offline: #6b7280;
  --rtc-radius: 8px; --rtc-font: system-ui, -apple-system, "Segoe UI", "Noto Sans Thai", "Loma", "Garuda", sans-serif;
  --rtc-feed-height: 22rem;
}
.rtc-sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.rtc-muted { color: var(--rtc-muted); } .rtc-small { font-size: .8125rem; } .rtc-error { color: var(--rtc-err); }
.rtc-icon { flex: none; vertical-align: -0.125em; }
.rtc-panel { background: var(--rtc-bg); color: var(--rtc-text); border: 1px solid var(--rtc-line); border-radius: var(--rtc-radius); padding: 1rem; min-width: 0; }
.rtc-panel h2 { font-size: 1rem; margin: 0 0 .6rem; }
.rtc-button { font: inherit; display: inline-flex; gap: .35rem; align-items: center; padding: .3rem .7rem; border: 1px solid var(--rtc-line); border-radius: 6px; background: var(--rtc-bg); color: var(--rtc-text); cursor: pointer; white-space: nowrap; }
.rtc-button:hover { border-color: var(--rtc-accent); }
.rtc-primary { background: var(--rtc-accent); color: var(--rtc-accent-text); border-color: var(--rtc-accent); }
.rtc-link { font: inherit; border: none; background: none; color: var(--rtc-accent); padding: 0; cursor: pointer; text-align: start; display: inline-flex; gap: .25rem; align-items: center; }
.rtc-link:hover { text-decoration: underline; }
:is(.rtc-button, .rtc-link, .rtc-tab, .rtc-feed-list, .rtc-tab-body, .rtc-comments textarea, .rtc-filter select):focus-visible { outline: 2px solid var(--rtc-focus); outline-offset: 2px; }
.rtc-avatar { position: relative; display: inline-flex; align-items: center; justify-content: center; border-radius: 50%; color: #fff; font-weight: 600; flex: none; line-height: 1; }
.rtc-avatar img { width: 100%; height: 100%; border-radius: 50%; object-fit: cover; }
.rtc-avatar-status { position: absolute; right: -1px; bottom: -1px; width: 10px; height: 10px; border-radius: 50%; border: 2px solid var(--rtc-bg); }
.rtc-avatar-status.rtc-status-online { background: var(--rtc-online); } .rtc-avatar-status.rtc-status-away { background: var(--rtc-away); } .rtc-avatar-status.rtc-status-offline { background: var(--rtc-offline); }
.rtc-avatar-more { background: var(--rtc-muted); width: 32px; height: 32px; font-size: .75rem; }
.rtc-presence-compact { display: inline-flex; align-items: center; padding-right: 6px; }
.rtc-presence-compact .rtc-avatar { margin-right: -6px; border: 2px solid var(--rtc-bg); }
.rtc-presence-list ul, .rtc-feed ul, .rtc-comments ul, .rtc-history ul, .rtc-conflicts ul { list-style: none; margin: 0; padding: 0; }
.rtc-presence-row { display: flex; gap: .6rem; align-items: flex-start; padding: .45rem 0; border-bottom: 1px solid var(--rtc-line); }
.rtc-presence-body { min-width: 0; overflow-wrap: anywhere; }
.rtc-badge { display: inline-flex; align-items: center; gap: .2rem; width: fit-content; margin-left: .4rem; padding: 0 .45rem; border-radius: 999px; font-size: .75rem; line-height: 1.5; background: #eef2f7; color: var(--rtc-text); white-space: nowrap; }
.rtc-badge.rtc-status-online { background: #dcfce7; color: #14532d; } .rtc-badge.rtc-status-away { background: #fef3c7; color: #78350f; } .rtc-badge.rtc-status-offline { background: #e5e7eb; color: #1f2933; }
.rtc-connection { display: flex; align-items: center; flex-wrap: wrap; gap: .25rem .6rem; font-size: .85rem; min-width: 0; }
.rtc-conn-state { display: inline-flex; align-items: center; gap: .35rem; white-space: nowrap; }
.rtc-dot { width: .6rem; height: .6rem; border-radius: 50%; background: var(--rtc-offline); }
.rtc-conn-open .rtc-dot { background: var(--rtc-online); } .rtc-conn-reconnecting .rtc-dot, .rtc-conn-connecting .rtc-dot { background: var(--rtc-away); } .rtc-conn-closed .rtc-dot { background: var(--rtc-err); }
.rtc-conn-id { max-width: 14rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
.rtc-banner { padding: .6rem .8rem; border-radius: 6px; margin-bottom: .8rem; display: flex; flex-wrap: wrap; gap: .4rem .6rem; align-items: center; background: var(--rtc-surface); }
.rtc-banner-text { flex: 1 1 12rem; min-width: 0; }
.rtc-banner-warning { background: var(--rtc-warn-bg); color: var(--rtc-warn); } .rtc-banner-info { background: var(--rtc-info-bg); color: var(--rtc-info); } .rtc-banner-error { background: var(--rtc-err-bg); color: var(--rtc-err); }
.rtc-banner-info .rtc-muted { color: var(--rtc-info); }
.rtc-cursors { position: absolute; inset: 0; pointer-events: none; overflow: hidden; }
.rtc-cursor { position: absolute; left: 0; top: 0; transition: transform 90ms linear; z-index: 10; display: flex; align-items: flex-start; }
.rtc-cursor-label { color: #fff; font-size: .75rem; padding: 1px 5px; border-radius: 4px; margin: 10px 0 0 2px; white-space: nowrap; }
.rtc-lock-box { display: flex; flex-wrap: wrap; gap: .4rem .6rem; align-items: center; font-size: .875rem; }
.rtc-collab { container-type: inline-size; }
.rtc-tabs { display: flex; gap: .15rem; margin: .8rem 0; flex-wrap: nowrap; overflow-x: auto; scrollbar-width: thin; border-bottom: 1px solid var(--rtc-line); }
.rtc-tab { font: inherit; font-size: .875rem; display: inline-flex; align-items: center; gap: .3rem; padding: .4rem .55rem; border: none; border-bottom: 2px solid transparent; background: none; color: var(--rtc-muted); cursor: pointer; white-space: nowrap; flex: none; }
/* A narrow panel: each tab is its icon and count over its label, four abreast (no second row, no cut labels). */
@container (max-width: 34rem) {
  .rtc-tab { flex: 1 1 0; min-width: 0; display: grid; grid-template-columns: auto auto; grid-template-rows: 1.25rem auto; align-items: center; justify-content: center; justify-items: center; gap: .1rem .25rem; padding: .35rem .15rem; font-size: .75rem; }
  .rtc-tab > span:not(.rtc-count) { grid-row: 2; grid-column: 1 / -1; }
}
.rtc-tab.rtc-active { border-bottom-color: var(--rtc-accent); color: var(--rtc-accent); font-weight: 600; }
.rtc-count { background: var(--rtc-accent); color: var(--rtc-accent-text); border-radius: 999px; padding: 0 .4rem; font-size: .75rem; font-weight: 600; }
.rtc-comments form { display: flex; flex-direction: column; gap: .35rem; margin-top: .6rem; }
.rtc-comments textarea { font: inherit; min-height: 3rem; padding: .4rem; border: 1px solid var(--rtc-line); border-radius: 6px; resize: vertical; }
.rtc-comments form .rtc-button { align-self: flex-start; }
.rtc-comment { display: flex; gap: .5rem; padding: .45rem 0; border-bottom: 1px solid var(--rtc-line); }
.rtc-comment-body { min-width: 0; overflow-wrap: anywhere; }
.rtc-comment.rtc-resolved .rtc-comment-text { color: var(--rtc-muted); }
.rtc-comment-text { margin: .2rem 0; white-space: pre-wrap; }
.rtc-history-row, .rtc-conflict { display: flex; flex-direction: column; align-items: flex-start; gap: .2rem; padding: .45rem 0; border-bottom: 1px solid var(--rtc-line); font-size: .875rem; overflow-wrap: anywhere; }
.rtc-history-head { display: flex; gap: .4rem; align-items: baseline; min-width: 0; }
.rtc-history-head .rtc-badge { margin-left: 0; }
.rtc-field { font-weight: 600; }
.rtc-buttons { display: flex; gap: .4rem; flex-wrap: wrap; }
.rtc-filters { display: flex; flex-wrap: wrap; gap: .5rem .8rem; margin-bottom: .5rem; }
.rtc-filter { display: flex; align-items: center; gap: .35rem; font-size: .8125rem; color: var(--rtc-muted); }
.rtc-filter select { font: inherit; color: var(--rtc-text); padding: .2rem .3rem; border: 1px solid var(--rtc-line); border-radius: 6px; background: var(--rtc-bg); max-width: 11rem; }
.rtc-feed-list { max-height: var(--rtc-feed-height); overflow-y: auto; overscroll-behavior: contain; overflow-anchor: auto; }
.rtc-feed-row { display: flex; gap: .5rem; padding: .4rem 0; border-bottom: 1px solid var(--rtc-line); font-size: .875rem; }
.rtc-feed-body { min-width: 0; flex: 1; overflow-wrap: anywhere; }
.rtc-feed-icon { flex: none; width: 1.5rem; height: 1.5rem; border-radius: 50%; display: inline-flex; align-items: center; justify-content: center; background: var(--rtc-surface); color: var(--rtc-muted); }
.rtc-action-created { background: #dcfce7; color: #14532d; } .rtc-action-updated { background: #dbeafe; color: #1e3a8a; } .rtc-action-deleted { background: #fee2e2; color: #7f1d1d; }
.rtc-changes { margin: .2rem 0 0; color: var(--rtc-muted); }
.rtc-changes .rtc-before { text-decoration: line-through; }
.rtc-changes .rtc-after { color: var(--rtc-text); }
.rtc-more { display: flex; align-items: center; justify-content: space-between; gap: .5rem; flex-wrap: wrap; margin-top: .5rem; }
@media (prefers-reduced-motion: reduce) { .rtc-cursor { transition: none; } }
`;

/** Puts the stylesheet in the page (render it once, e.g. next to RealtimeI18nProvider). */
export function RealtimeStyles(): ReactElement {
  return createElement('style', { 'data-rtc': '' }, realtimeCss);
}
