export { ActivityFeed, type ActivityLog } from '../../../../demo/src/components/ActivityFeed.js';
