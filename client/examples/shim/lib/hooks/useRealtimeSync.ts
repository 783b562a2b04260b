export { useRealtimeSync, useEntitySync, useLock } from '../../../../src/react/index.js';
