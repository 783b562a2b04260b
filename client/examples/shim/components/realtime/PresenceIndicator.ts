export { PresenceIndicator } from '../../../../demo/src/components/PresenceIndicator.js';
