// Compiles the service for `npm start`: src/ bundled into dist/main.js (dependencies stay in
// node_modules). Plain JavaScript starts faster and holds less memory than the TypeScript loader;
// it takes esbuild a fraction of a second, so `npm start` builds every time and is never stale.
import { build } from 'esbuild';

// `node scripts/build.mjs <entry> <outfile>` builds other sources the same way (the benchmark's
// BENCH_BEFORE: an earlier commit's src/, as dist/before.js).
const [entry = 'src/main.ts', outfile = 'dist/main.js'] = process.argv.slice(2);

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
