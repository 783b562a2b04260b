// The seed's module path, mapped to the SDK (see examples/tsconfig.json and EXAMPLES.md).
export { useWebSocket, useWebSocketChannel, useWebSocketMessages, useWebSocketStatus } from '@omnisales/rtcollab-client/react';
