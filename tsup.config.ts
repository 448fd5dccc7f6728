import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'receiver/index': 'src/receiver/index.ts',
    'sqlite/index': 'src/storage/sqlite/index.ts',
    'postgres/index': 'src/storage/postgres/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  // p-retry and ky are ESM-only: the CJS build must carry them or `require` breaks.
  noExternal: ['p-retry', 'ky', 'is-network-error'],
});
