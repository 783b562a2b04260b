import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The hooks and the seed's examples against the real local server binary
// (LOCALSERVER_BIN, default ../bin/localserver), one server per test file.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@\/lib\/hooks\/(.*)$/, replacement: fileURLToPath(new URL('./examples/shim/lib/hooks/$1.ts', import.meta.url)) },
      // The seed's examples import the UI (and their shims the hooks) from the package, as an application does.
      { find: /^@omnisales\/rtcollab-client\/ui$/, replacement: fileURLToPath(new URL('./src/ui/index.ts', import.meta.url)) },
      { find: /^@omnisales\/rtcollab-client\/react$/, replacement: fileURLToPath(new URL('./src/react/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test-server/**/*.test.ts', 'test-server/**/*.test.tsx'],
    environment: 'happy-dom',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fileParallelism: false,
    restoreMocks: true,
  },
});
