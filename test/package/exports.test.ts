/**
 * The built package as a user gets it: built with tsup into a staging directory (so
 * the shared `dist/` of the work tree is never touched), packed with `npm pack`
 * (so the `files` list is what is tested), installed into a temporary project,
 * and loaded through every `exports` entry with both `import` and `require`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  name: string;
  main?: string;
  module?: string;
  types?: string;
  files: string[];
  exports: Record<string, string | Record<string, { types: string; default: string } | string>>;
  peerDependencies?: Record<string, string>;
};
const PACKAGE = manifest.name;

interface Condition {
  types: string;
  default: string;
}

/** The code entries of `exports` (not `./package.json`), read from the manifest so new ones are covered. */
const subpaths = Object.entries(manifest.exports)
  .filter(([subpath, target]) => !subpath.endsWith('.json') && typeof target === 'object')
  .map(([subpath, target]) => ({
    subpath,
    specifier: subpath === '.' ? PACKAGE : `${PACKAGE}/${subpath.slice(2)}`,
    import: (target as { import: Condition }).import,
    require: (target as { require: Condition }).require,
  }));

/** Value exports each known entry must provide, as functions (classes included). */
const expectedFunctions: Record<string, string[]> = {
  '.': [
    'createWebhooks',
    'defineEvents',
    'createMemoryStorage',
    'createEventBus',
    'generateSecret',
    'signWebhook',
    'computeBackoff',
    'createUndiciTransport',
    'createFetchTransport',
    'isForbiddenAddress',
    'matchesEventType',
    'isWebhookError',
    'WebhookError',
    'ConfigError',
    'ValidationError',
    'SignatureVerificationError',
    'StorageError',
  ],
  './receiver': [
    'verifyWebhook',
    'verifyWebhookAsync',
    'verifyWebhookSignature',
    'verifyWebhookSignatureAsync',
    'createNodeHandler',
    'createWebHandler',
    'verifyWebRequest',
    'isWebhookError',
    'WebhookError',
    'SignatureVerificationError',
  ],
  './sqlite': ['createSqliteStorage'],
  './postgres': ['createPostgresStorage'],
};

let work: string;
let project: string;
let installed: string;
let packedFiles: string[];
let installedBy: 'npm install --offline' | 'extracted tarball';

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
}

/** Runs a snippet with node in the temporary project and parses the JSON it prints. */
function node(mode: 'esm' | 'cjs', code: string): unknown {
  const args = mode === 'esm' ? ['--input-type=module', '-e', code] : ['-e', code];
  return JSON.parse(run(process.execPath, args, project));
}

function exportKinds(mode: 'esm' | 'cjs', specifier: string): Record<string, string> {
  const describe = 'JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v])))';
  const code =
    mode === 'esm'
      ? `const m = await import(${JSON.stringify(specifier)}); console.log(${describe});`
      : `const m = require(${JSON.stringify(specifier)}); console.log(${describe});`;
  return node(mode, code) as Record<string, string>;
}

/** Makes a package of the work tree's node_modules visible to the project (a peer the user would install). */
function linkFromRepo(name: string): void {
  const target = join(project, 'node_modules', name);
  if (existsSync(target) || !existsSync(join(repo, 'node_modules', name))) return;
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(join(repo, 'node_modules', name), target, 'dir');
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-package-'));
  const stage = join(work, 'stage');
  mkdirSync(stage);

  // Build into the staging directory, not into the shared dist/.
  run(join(repo, 'node_modules', '.bin', 'tsup'), ['--out-dir', join(stage, 'dist')], repo);
  writeFileSync(join(stage, 'package.json'), JSON.stringify(manifest, null, 2));
  for (const entry of manifest.files) {
    if (entry === 'dist' || entry.includes('*')) continue;
    if (existsSync(join(repo, entry))) cpSync(join(repo, entry), join(stage, entry), { recursive: true });
  }

  const [pack] = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], stage)) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  packedFiles = pack!.files.map((file) => file.path);
  const tarball = join(work, pack!.filename);

  project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'package-test', version: '0.0.0', private: true }));
  try {
    run('npm', ['install', '--no-audit', '--no-fund', '--offline', '--ignore-scripts', '--no-package-lock', tarball], project);
    installedBy = 'npm install --offline';
  } catch {
    // The npm cache lacks a dependency: use the work tree's node_modules for the
    // dependencies, and the packed tarball (its `files` list) for the package itself.
    rmSync(join(project, 'node_modules'), { recursive: true, force: true });
    mkdirSync(join(project, 'node_modules'));
    for (const name of readdirSync(join(repo, 'node_modules'))) {
      if (name.startsWith('.') || name === '@bookkeeper') continue;
      symlinkSync(join(repo, 'node_modules', name), join(project, 'node_modules', name), 'dir');
    }
    const target = join(project, 'node_modules', ...PACKAGE.split('/'));
    mkdirSync(target, { recursive: true });
    run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], project);
    installedBy = 'extracted tarball';
  }
  // The optional peers, as a host that uses those entries would have them.
  for (const peer of Object.keys(manifest.peerDependencies ?? {})) linkFromRepo(peer);
  installed = join(project, 'node_modules', ...PACKAGE.split('/'));
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('is installed in the temporary project', () => {
    expect(['npm install --offline', 'extracted tarball']).toContain(installedBy);
    expect(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).name).toBe(PACKAGE);
  });

  it('holds the build, the manifest and the docs, and no sources or tests', () => {
    expect(packedFiles).toContain('package.json');
    for (const file of packedFiles) {
      expect(file, `${file} should not be in the tarball`).toMatch(/^(dist\/|package\.json$|README\.md$|CHANGELOG\.md$|LICENSE)/);
    }
  });

  it('holds every file the manifest points at (main, module, types, every exports target)', () => {
    const targets = [manifest.main, manifest.module, manifest.types].filter((file): file is string => typeof file === 'string');
    for (const entry of subpaths) {
      targets.push(entry.import.types, entry.import.default, entry.require.types, entry.require.default);
    }
    for (const target of targets) expect(existsSync(join(installed, target)), `${target} is missing`).toBe(true);
  });
});

describe.each(subpaths)('$specifier', (entry) => {
  const expected = expectedFunctions[entry.subpath];

  it('loads with import and exposes its functions', () => {
    const kinds = exportKinds('esm', entry.specifier);
    if (expected) for (const name of expected) expect(kinds[name], `import ${name}`).toBe('function');
    else expect(Object.values(kinds)).toContain('function');
  });

  it('loads with require and exposes its functions', () => {
    const kinds = exportKinds('cjs', entry.specifier);
    if (expected) for (const name of expected) expect(kinds[name], `require ${name}`).toBe('function');
    else expect(Object.values(kinds)).toContain('function');
  });

  it('exports the same names, of the same kinds, to import and to require', () => {
    const esm = exportKinds('esm', entry.specifier);
    const { default: _default, ...esmNamed } = esm;
    const { __esModule: _marker, ...cjs } = exportKinds('cjs', entry.specifier);
    expect(cjs).toEqual(esmNamed);
  });

  it('has both an import and a require condition, each with types and a default', () => {
    for (const condition of [entry.import, entry.require]) {
      expect(condition).toEqual({ types: expect.any(String), default: expect.any(String) });
    }
  });

  it('names .d.ts types for import and .d.cts types for require, and lists types first', () => {
    expect(entry.import.types).toMatch(/\.d\.ts$/);
    expect(entry.require.types).toMatch(/\.d\.cts$/);
    expect(existsSync(join(installed, entry.import.types))).toBe(true);
    expect(existsSync(join(installed, entry.require.types))).toBe(true);
    expect(Object.keys(entry.import)[0]).toBe('types');
    expect(Object.keys(entry.require)[0]).toBe('types');
  });
});

describe('errors across the two builds', () => {
  it('lets the CJS isWebhookError recognise an error thrown by the ESM build, and the reverse', () => {
    const result = node(
      'cjs',
      `
      const cjs = require(${JSON.stringify(PACKAGE)});
      import(${JSON.stringify(PACKAGE)}).then((esm) => {
        const thrown = (build) => { try { build.createWebhooks({ concurency: 1 }); } catch (error) { return error; } };
        const fromEsm = thrown(esm);
        const fromCjs = thrown(cjs);
        console.log(JSON.stringify({
          twoCopies: esm.WebhookError !== cjs.WebhookError,
          code: fromEsm && fromEsm.code,
          cjsRecognisesEsm: cjs.isWebhookError(fromEsm),
          esmRecognisesCjs: esm.isWebhookError(fromCjs),
          cjsRejectsPlain: cjs.isWebhookError(new Error('plain')),
        }));
      });
      `,
    );
    expect(result).toEqual({
      twoCopies: true,
      code: 'CONFIG_INVALID',
      cjsRecognisesEsm: true,
      esmRecognisesCjs: true,
      cjsRejectsPlain: false,
    });
  });

  it('lets the receiver entry recognise an error of the main entry', () => {
    const result = node(
      'esm',
      `
      const main = await import(${JSON.stringify(PACKAGE)});
      const receiver = await import(${JSON.stringify(`${PACKAGE}/receiver`)});
      let error;
      try { main.createWebhooks({ leaseMs: 1 }); } catch (caught) { error = caught; }
      console.log(JSON.stringify({ code: error.code, recognised: receiver.isWebhookError(error) }));
      `,
    );
    expect(result).toEqual({ code: 'CONFIG_LEASE_TOO_SHORT', recognised: true });
  });
});

describe('the built package at work', () => {
  it('signs with the main entry what the receiver entry verifies, in ESM and CJS', () => {
    const script = (load: string) => `
      ${load}
      const secret = main.generateSecret();
      const body = JSON.stringify({ id: 'msg_1', type: 'payment.succeeded', timestamp: '2026-01-01T00:00:00.000Z', data: { a: 1 } });
      const now = new Date('2026-01-01T00:00:00Z');
      const timestamp = Math.floor(now.getTime() / 1000);
      const signature = main.signWebhook({ id: 'msg_1', timestamp, body, secrets: [secret] });
      const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
      const event = receiver.verifyWebhook({ body, headers }, { secrets: secret, now });
      console.log(JSON.stringify(event));
    `;
    const expected = { id: 'msg_1', type: 'payment.succeeded', timestamp: '2026-01-01T00:00:00.000Z', data: { a: 1 } };
    expect(
      node(
        'esm',
        script(`const main = await import(${JSON.stringify(PACKAGE)}); const receiver = await import(${JSON.stringify(`${PACKAGE}/receiver`)});`),
      ),
    ).toEqual(expected);
    expect(
      node(
        'cjs',
        script(`const main = require(${JSON.stringify(PACKAGE)}); const receiver = require(${JSON.stringify(`${PACKAGE}/receiver`)});`),
      ),
    ).toEqual(expected);
  });
});

/** Static and dynamic import specifiers of an ES module's text. */
function importSpecifiers(code: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s*(?:[\w*${}\s,]+?\s*from\s*)?["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) found.push(match[1]!);
  return found;
}

describe('the receiver entry', () => {
  it('imports no Node built-in and no zod, directly or through its chunks (it must run in edge runtimes)', () => {
    const receiver = subpaths.find((entry) => entry.subpath === './receiver');
    expect(receiver).toBeDefined();
    const builtins = new Set(builtinModules);
    const seen = new Set<string>();
    const queue = [join(installed, receiver!.import.default)];
    const offending: string[] = [];
    while (queue.length > 0) {
      const file = queue.shift()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const code = readFileSync(file, 'utf8');
      for (const specifier of importSpecifiers(code)) {
        if (specifier.startsWith('.')) {
          queue.push(resolve(dirname(file), specifier));
          continue;
        }
        const bare = specifier.replace(/^node:/, '').split('/')[0]!;
        if (specifier.startsWith('node:') || builtins.has(bare) || bare === 'zod' || specifier.startsWith('zod/')) {
          offending.push(`${file.slice(installed.length + 1)} imports ${specifier}`);
        }
      }
      // zod bundled in rather than imported would still be zod.
      if (/\bZodError\b|\bZodType\b/.test(code)) offending.push(`${file.slice(installed.length + 1)} contains zod`);
    }
    expect(seen.size).toBeGreaterThan(0);
    expect(offending).toEqual([]);
  });

  it('contains no node: import in its own ESM file', () => {
    const receiver = subpaths.find((entry) => entry.subpath === './receiver')!;
    const code = readFileSync(join(installed, receiver.import.default), 'utf8');
    expect(importSpecifiers(code).filter((specifier) => specifier.startsWith('node:'))).toEqual([]);
    expect(code).not.toMatch(/from\s*["']zod["']/);
  });
});
