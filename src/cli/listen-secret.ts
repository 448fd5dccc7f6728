/**
 * The signing secret `listen` uses when none is given: generated once and kept in the
 * user's config directory (`$XDG_CONFIG_HOME/bookkeeper-webhooks/listen.json`, else
 * `~/.config/…`), readable by the user alone (0600), so that the app under development
 * keeps one secret across restarts, as with `stripe listen`.
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateSecret } from '../signing/secret.js';
import { makeDirectory } from './make-directory.js';
import { namingPath } from './read-input.js';

/** Where the secret lives under `env`. */
export function listenSecretPath(env: Readonly<Record<string, string | undefined>>): string {
  const configHome = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(configHome, 'bookkeeper-webhooks', 'listen.json');
}

/** Thrown for a stored file that is not what this module wrote; the CLI exits 1 with it. */
export class ListenSecretFileError extends Error {
  override readonly name = 'ListenSecretFileError';
  readonly code = 'LISTEN_SECRET_FILE_INVALID';
}

/**
 * The stored secret, or a new one written to `path` first.
 * @returns `created`: whether this call generated it.
 */
export async function loadOrCreateListenSecret(path: string): Promise<{ secret: string; created: boolean }> {
  const stored = await readStored(path);
  if (stored !== undefined) return { secret: stored, created: false };
  const secret = generateSecret();
  await makeDirectory(dirname(path), 0o700);
  try {
    // `wx`: a second `listen` starting at the same moment keeps the first one's secret.
    await writeFile(path, JSON.stringify({ secret }, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { secret: (await readStored(path))!, created: false };
  }
  return { secret, created: true };
}

async function readStored(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw namingPath(error, path);
  }
  let secret: unknown;
  try {
    secret = (JSON.parse(text) as { secret?: unknown }).secret;
  } catch {
    secret = undefined;
  }
  if (typeof secret !== 'string' || !secret.startsWith('whsec_')) {
    throw new ListenSecretFileError(`Expected ${path} to hold { "secret": "whsec_…" }, got something else: delete it to generate a new secret`);
  }
  // A file that others can read (copied, restored from a backup) is narrowed back to its owner.
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  return secret;
}
