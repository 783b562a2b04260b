export { useRealtimeSync, useEntitySync, useLock } from '@omnisales/rtcollab-client/react';
