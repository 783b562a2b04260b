/**
 * The seed's realtime UI as React components: PresenceIndicator,
 * ActivityFeed, CollaborationPanel, ConnectionStatus, LockBanner,
 * LiveCursors and CommentThread, with the realtime.* strings in English
 * and Thai (RealtimeI18nProvider, or react-i18next through its `t` prop)
 * and a stylesheet themed by --rtc-* custom properties (RealtimeStyles).
 *
 * Entry points: the components, RealtimeI18nProvider, RealtimeStyles.
 */
export { PresenceIndicator, type PresenceIndicatorProps } from './PresenceIndicator.js';
export { ActivityFeed, shownAction, type ActivityFeedProps, type ActivityLog } from './ActivityFeed.js';
export { CollaborationPanel, type CollaborationPanelProps, type CollaborationTab } from './CollaborationPanel.js';
export { ConnectionStatus, type ConnectionStatusProps } from './ConnectionStatus.js';
export { LockBanner, type LockBannerProps } from './LockBanner.js';
export { LiveCursors, type LiveCursorsProps } from './LiveCursors.js';
export { CommentThread, type CommentThreadProps } from './CommentThread.js';
export { Avatar, colorOf, initials, type AvatarProps } from './Avatar.js';
export { Icon, type IconName } from './icons.js';
export {
  RealtimeI18nProvider,
  useRealtimeI18n,
  createRealtimeI18n,
  createTranslator,
  realtimeLanguage,
  interpolate,
  errorText,
  errorCode,
  type RealtimeI18n,
  type RealtimeI18nProviderProps,
  type Translate,
  type TranslateValues,
  type ExternalTranslate,
  type ExternalTranslateValues,
} from './i18n.js';
export { en as realtimeEn, th as realtimeTh, realtimeResources, type Messages, type RealtimeLanguage } from './locales.js';
export { presenceActivity, activityText, locationText, entityName, showValue, type FieldLabel } from './format.js';
export { realtimeCss, RealtimeStyles } from './styles.js';
