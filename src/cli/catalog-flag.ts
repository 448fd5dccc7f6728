/**
 * `--catalog <module>`: the event catalog a command works with, instead of Bookkeeper's own
 * (`bookkeeperEvents`) — the host's `defineEvents` catalog, loaded from its module with
 * `import()` of the file's URL. Its `default` export, or else its `catalog` export (for
 * CommonJS: `module.exports`, or `module.exports.catalog`), must be a catalog — recognised
 * by its shape (events/catalog.ts's `isEventCatalog`), since the module's copy of the
 * package is not the CLI's. A `.ts` module loads when the CLI runs under tsx, or on a Node
 * that strips types itself (22.18 and later, 23.6 and later). What goes
 * wrong — no such file, another kind of file, an import that throws, no catalog among the
 * exports — is a usage error that names the path and what was expected.
 */
import { existsSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeValue, isWebhookError } from '../errors.js';
import { bookkeeperEvents } from '../events/bookkeeper-events.js';
import { isEventCatalog, type EventCatalog } from '../events/catalog.js';
import { stringFlag, type Command, type CommandArgs, type CommandOptions } from './command.js';
import type { CliIo } from './cli-io.js';
import { UsageError } from './usage-error.js';

/** `--catalog`, shared by the commands that read the catalog. */
export const catalogOption = { catalog: { type: 'string' } } as const satisfies CommandOptions;

/**
 * The help lines of `--catalog`, its text starting at `column` (after the two spaces an
 * option line starts with), as the command's other options are laid out.
 */
export function catalogHelp(column: number): string {
  const indent = ' '.repeat(column + 2);
  return [
    `${'--catalog <module>'.padEnd(column)}the event catalog instead of Bookkeeper's: a .js, .mjs`,
    `${indent}or .cjs module whose default (or \`catalog\`) export is made`,
    `${indent}by defineEvents(); a .ts one under tsx or Node ≥ 22.18`,
  ].join('\n');
}

/** The extensions `import()` loads on plain Node, and the TypeScript ones a loader such as tsx adds. */
const moduleExtensions = new Set(['.js', '.mjs', '.cjs']);
const typeScriptExtensions = new Set(['.ts', '.mts', '.cts']);
const expectedModule = 'a .js, .mjs or .cjs module (a .ts one under tsx or Node ≥ 22.18)';

/**
 * The catalog of `--catalog`, or Bookkeeper's without it.
 * @throws UsageError when the module cannot be read as a catalog (see the file's header).
 */
export async function catalogOf(args: CommandArgs, io: CliIo, command: Command): Promise<EventCatalog> {
  const given = stringFlag(args, 'catalog');
  if (given === undefined) return bookkeeperEvents;
  const path = resolve(io.cwd, given);
  const refuse = (message: string): never => {
    throw new UsageError(message, command.name);
  };
  if (!existsSync(path) || !statSync(path).isFile()) refuse(`Expected --catalog to name ${expectedModule}, got ${path} (no such file)`);
  const extension = extname(path).toLowerCase();
  if (!moduleExtensions.has(extension) && !typeScriptExtensions.has(extension)) {
    refuse(`Expected --catalog to name ${expectedModule}, got ${path}`);
  }
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const why = isWebhookError(error) ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
    const hint = typeScriptExtensions.has(extension) && code === 'ERR_UNKNOWN_FILE_EXTENSION' ? ' (a .ts module loads when the CLI runs under tsx, npx tsx <cli> …, or on Node 22.18 and later)' : '';
    return refuse(`Expected --catalog ${path} to load as a module, got an error: ${why}${hint}`);
  }
  // A CommonJS module's `module.exports` is its default export, and its `catalog` property
  // is a named export only when Node's static analysis of the module finds it.
  const commonJsCatalog = typeof loaded.default === 'object' && loaded.default !== null ? (loaded.default as Record<string, unknown>).catalog : undefined;
  for (const candidate of [loaded.default, loaded.catalog, commonJsCatalog]) {
    if (isEventCatalog(candidate)) return candidate;
  }
  return refuse(`Expected --catalog ${path} to export an event catalog made by defineEvents() as its default export or as \`catalog\`, got ${exportsOf(loaded)}`);
}

/** What a module exports, for the message: its names, and its default export when it has one. */
function exportsOf(loaded: Record<string, unknown>): string {
  // Node 23 and later also name a CommonJS module's `module.exports` as an export of its own: the default again.
  const names = Object.keys(loaded).filter((name) => name !== 'module.exports');
  if (names.length === 0) return 'no exports';
  const listed = `exports ${names.map((name) => `\`${name}\``).join(', ')}`;
  return Object.hasOwn(loaded, 'default') ? `${listed}, the default being ${describeValue(loaded.default)}` : listed;
}
