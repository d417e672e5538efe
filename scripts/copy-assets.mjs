// Copies the non-TypeScript files the build needs at run time (WGSL kernels, .proto files, the
// dashboard's static files) into dist/, next to the compiled modules that load them.
import { chmodSync, cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ASSET = /\.(wgsl|proto|html|css|js|svg|json)$/;
const roots = ['apps', 'libs', 'proto'];
// SENTINEL_DIST: the build folder to copy into (default dist/), as in scripts/run-tests.mjs.
const outDir = process.env.SENTINEL_DIST ?? 'dist';

function walk(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      if (entry !== 'node_modules') walk(path);
    } else if (ASSET.test(entry) && !path.endsWith('.ts') && !isCompiledOutput(path)) {
      cpSync(path, join(outDir, relative('.', path)));
    }
  }
}

// .js files are assets only inside static folders (the dashboard); elsewhere they'd be stray outputs.
function isCompiledOutput(path) {
  return path.endsWith('.js') && !path.includes('/dashboard/');
}

for (const root of roots) if (existsSync(root)) walk(root);

// package.json "bin" (sentinel) must be executable for `npx sentinel` to run it; tsc does not set modes.
const cli = join(outDir, 'apps/cli/src/main.js');
if (existsSync(cli)) chmodSync(cli, 0o755);
