export { usePresence, useRoomPresence, useOnlineStatus } from '../../../../src/react/index.js';
