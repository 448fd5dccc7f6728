import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'receiver/index': 'src/receiver/index.ts',
    'sqlite/index': 'src/storage/sqlite/index.ts',
    'postgres/index': 'src/storage/postgres/index.ts',
    'dashboard/index': 'src/dashboard/index.ts',
    // The dispatcher's worker thread (dispatcher: { thread: 'worker' }): internal, found at run
    // time beside the build that starts it (src/delivery/worker/spawn-dispatcher-worker.ts).
    'dispatcher-worker': 'src/delivery/worker/dispatcher-worker.ts',
    // The dispatcher's storage thread (dispatcher: { storageThread: 'worker' }), found the same way.
    'storage-worker': 'src/delivery/worker/storage-worker.ts',
    'cli/index': 'src/cli/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  // ky and p-retry (with its is-network-error) are ESM-only, so the CJS build must carry them, and
  // the ESM build carries them too: they are devDependencies, never installed with the package, and
  // no .d.ts names them (test/package/exports.test.ts checks both).
  noExternal: ['p-retry', 'ky', 'is-network-error'],
});
