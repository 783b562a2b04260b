// Builds the demo page into demo/dist: one ES module bundle (React and the
// SDK and its UI from source: demo/tsconfig.json maps the package's name to
// client/src, and esbuild follows those paths), the HTML, the stylesheet and the icon.
import { build } from 'esbuild';
import { cp, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
const dev = process.argv.includes('--dev');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'main.tsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  minify: !dev,
  sourcemap: true,
  define: { 'process.env.NODE_ENV': JSON.stringify(dev ? 'development' : 'production') },
  logLevel: 'warning',
});
await cp(join(here, 'index.html'), join(out, 'index.html'));
await cp(join(here, 'styles.css'), join(out, 'styles.css'));
await cp(join(here, 'favicon.svg'), join(out, 'favicon.svg'));
console.log(`demo built into ${out}`);
