import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // The demo imports the package by its name (test/demo.test.tsx renders it); these map it to
    // the source, as demo/tsconfig.json does.
    alias: [
      { find: /^@omnisales\/rtcollab-client\/ui$/, replacement: fileURLToPath(new URL('./src/ui/index.ts', import.meta.url)) },
      { find: /^@omnisales\/rtcollab-client\/react$/, replacement: fileURLToPath(new URL('./src/react/index.ts', import.meta.url)) },
      { find: /^@omnisales\/rtcollab-client$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    environment: 'node',
    restoreMocks: true,
  },
});
