export { usePresence, useRoomPresence, useOnlineStatus } from '@omnisales/rtcollab-client/react';
