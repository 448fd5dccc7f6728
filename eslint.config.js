// Lint = correctness rules plus the import boundaries of shared/STYLE.md:
// the receiver entry stays runtime-neutral and small; drivers and SQL stay in their adapters;
// no module of src/ reaches itself again through its imports.
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const drivers = ['better-sqlite3', 'pg', 'pg-*'];
const sqlPattern = String.raw`/\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX))\b/i`;

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/storage/sqlite/**', 'src/storage/postgres/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: drivers.filter((name) => !name.includes('*')), patterns: [{ group: drivers, message: 'Drivers belong in src/storage/<adapter>/ only.' }] }],
      'no-restricted-syntax': [
        'error',
        { selector: `TemplateElement[value.raw=${sqlPattern}]`, message: 'SQL belongs in src/storage/<adapter>/ only.' },
        { selector: `Literal[value=${sqlPattern}]`, message: 'SQL belongs in src/storage/<adapter>/ only.' },
      ],
    },
  },
  {
    // The receiver's inbox runs on the consumer's own database client, not on a driver of
    // ours: its SQL lives in this one module of the receiver, built by pure functions.
    files: ['src/receiver/inbox-statements.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // A split-out module never imports back from the file it left. Type-only imports are
    // erased at build time, so they do not count; sources import each other as `./x.js`.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: { 'import-x/no-cycle': 'error' },
  },
  {
    // The ./receiver entry and the verify core it uses: only signing and errors, nothing node-only, no zod.
    files: ['src/receiver/**/*.ts', 'src/signing/verify-signature.ts', 'src/signing/secret.ts', 'src/storable-text.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'The receiver runs in edge runtimes: no node: imports (type imports are fine).', allowTypeImports: true },
            { group: ['zod', 'undici', 'ky', 'p-retry', 'eventemitter3', ...drivers], message: 'The receiver bundle carries no runtime dependency.' },
            {
              group: ['../*', '!../signing', '!../errors.js', '!../check-argument-count.js', '!../storable-text.js', '../signing/sign-webhook.js', '!../events', '../events/*', '!../events/catalog.js'],
              message: 'The receiver imports only src/signing (the verify core), src/errors.ts, src/check-argument-count.ts and src/storable-text.ts.',
            },
            {
              group: ['../events/catalog.js'],
              allowTypeImports: true,
              message: 'The receiver may name the event catalog types (import type), never load the catalog: it is built on zod.',
            },
          ],
        },
      ],
    },
  },
);
