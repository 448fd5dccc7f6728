/**
 * The CLI as a user runs it: a child process of `node`, its stdout and stderr collected,
 * its exit code awaited. Long-running commands (`listen`) are started with `startCli` and
 * read line by line.
 *
 * The child runs the source, bundled once per test file by esbuild (packages left as
 * imports, resolved through a `node_modules` link beside the bundle): on these 2-core
 * machines `node --import tsx` spent about a second compiling in every child, esbuild
 * spends that once. test/package/exports.test.ts runs the tsup-built bin.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const cliSource = join(repoRoot, 'src/cli/index.ts');

const bundleDir = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-cli-'));
symlinkSync(join(repoRoot, 'node_modules'), join(bundleDir, 'node_modules'), 'dir');
process.on('exit', () => rmSync(bundleDir, { recursive: true, force: true }));
/** The bundled CLI entry the children run. */
export const cliEntry = join(bundleDir, 'cli.mjs');
await build({ entryPoints: [cliSource], outfile: cliEntry, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error' });

const libraryBundles = new Map<'esm' | 'cjs', Promise<string>>();

/**
 * The library's main entry bundled from the source beside the CLI (as a host's module would
 * import or require the package), for catalog modules that `--catalog` loads: built once per
 * test file and format, on first use.
 */
export function bundledLibrary(format: 'esm' | 'cjs' = 'esm'): Promise<string> {
  let bundle = libraryBundles.get(format);
  if (bundle === undefined) {
    const outfile = join(bundleDir, format === 'esm' ? 'library.mjs' : 'library.cjs');
    bundle = build({ entryPoints: [join(repoRoot, 'src/index.ts')], outfile, bundle: true, platform: 'node', format, target: 'node20', packages: 'external', logLevel: 'error' }).then(() => outfile);
    libraryBundles.set(format, bundle);
  }
  return bundle;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  /** Written to stdin, then stdin is closed (stdin is closed at once without it). */
  input?: string | Buffer;
  env?: Record<string, string>;
  cwd?: string;
}

/** An environment without the caller's secrets, colours or config: each test says what it sets. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const { PATH = '', HOME = tmpdir(), TEST_DATABASE_URL } = process.env;
  return { PATH, HOME, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-config-')), ...(TEST_DATABASE_URL === undefined ? {} : { TEST_DATABASE_URL }), ...extra };
}

/** Starts `bookkeeper-webhooks …args` from the source. */
export function startCli(args: readonly string[], options: Omit<CliRunOptions, 'input'> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [cliEntry, ...args], { cwd: options.cwd ?? repoRoot, env: options.env ?? cleanEnv() });
}

/** Runs `bookkeeper-webhooks …args` to its end. */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  return collect(startCli(args, options), options.input);
}

/** Waits for a started process to exit, with what it wrote. */
export function collect(child: ChildProcessWithoutNullStreams, input?: string | Buffer): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(input);
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** Resolves with the first stdout line matching `pattern` (the process keeps running). */
export function lineMatching(child: ChildProcessWithoutNullStreams, pattern: RegExp): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let buffered = '';
    let stderr = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      const found = lines.find((line) => pattern.test(line));
      if (found !== undefined) {
        child.stdout.off('data', onData);
        resolvePromise(found);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('exit', (code) => reject(new Error(`the CLI exited (${code}) before printing a line matching ${pattern}: ${stderr}`)));
  });
}
