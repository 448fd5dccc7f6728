/**
 * Loading optional peer dependencies (better-sqlite3, pg, @opentelemetry/api) from
 * both builds of the package, synchronously.
 */
import { createRequire } from 'node:module';

/**
 * A `require` resolving from our own install location, as a peer dependency should be.
 * tsup emits this module twice: in the CJS build `__filename` is the bundle's path
 * (`import.meta` is not CJS; tsup shims it there, but we do not rely on the shim); in
 * the ESM build `__filename` is undeclared, so `typeof` is safe, and `import.meta.url`
 * is the bundle's URL. A plain `require` would not exist in ESM, and `await import()`
 * would force async factories. (Checked by the package tests, which load every entry
 * through both `import` and `require`.)
 */
export function peerRequire(): NodeJS.Require {
  return createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
}
