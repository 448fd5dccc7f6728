/**
 * The built package as a user gets it: built with tsup into a staging directory (so
 * the shared `dist/` of the work tree is never touched), packed with `npm pack`
 * (so the `files` list is what is tested), installed into a temporary project with
 * npm (so what a user downloads is tested too), loaded through every `exports` entry
 * with both `import` and `require`, and its types compiled by a consumer under every
 * `moduleResolution` a user may have.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
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
  bin?: Record<string, string>;
  files: string[];
  exports: Record<string, string | Record<string, { types: string; default: string } | string>>;
  typesVersions?: Record<string, Record<string, string[]>>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
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
    'exportCatalog',
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
    'ConflictError',
    'StateError',
    'SignatureVerificationError',
    'StorageError',
    'FeedError',
    'createEventFeedHandler',
    'toNodeHandler',
    'toExpressMiddleware',
  ],
  './receiver': [
    'verifyWebhook',
    'verifyWebhookAsync',
    'verifyWebhookSignature',
    'verifyWebhookSignatureAsync',
    'createNodeHandler',
    'createWebHandler',
    'verifyWebRequest',
    'createSqlInbox',
    'inboxMigrationSql',
    'isWebhookError',
    'WebhookError',
    'SignatureVerificationError',
    'StorageError',
    'FeedError',
    'pullMissed',
  ],
  './sqlite': ['createSqliteStorage'],
  './postgres': ['createPostgresStorage'],
  './dashboard': ['createDashboard'],
};

let work: string;
let project: string;
let installed: string;
let packedFiles: string[];
/** Every package npm installed into the temporary project, ours excepted (read before the peers are linked in). */
let installedPackages: string[];

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

/** The bare package name of an import specifier (`zod/v4` is `zod`, `@scope/name/x` is `@scope/name`). */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** The names of the packages installed in a node_modules folder, nested ones included. */
function packagesIn(folder: string): string[] {
  if (!existsSync(folder)) return [];
  const names: string[] = [];
  for (const entry of readdirSync(folder)) {
    if (entry.startsWith('.')) continue;
    const scoped = entry.startsWith('@') ? readdirSync(join(folder, entry)).map((name) => `${entry}/${name}`) : [entry];
    for (const name of scoped) names.push(name, ...packagesIn(join(folder, name, 'node_modules')));
  }
  return [...new Set(names)];
}

/** The named packages and, from their installed manifests, everything they depend on. */
function dependencyClosure(names: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const file = join(project, 'node_modules', name, 'package.json');
    if (!existsSync(file)) continue;
    const { dependencies = {}, optionalDependencies = {} } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;
    queue.push(...Object.keys(dependencies), ...Object.keys(optionalDependencies));
  }
  return [...seen];
}

/** Every file under a folder, with its path. */
function filesUnder(folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-package-'));
  const stage = join(work, 'stage');
  mkdirSync(stage);

  // Build into the staging directory, not into the shared dist/.
  run(join(repo, 'node_modules', '.bin', 'tsup'), ['--out-dir', join(stage, 'dist')], repo);
  writeFileSync(join(stage, 'package.json'), JSON.stringify(manifest, null, 2));
  for (const entry of manifest.files) {
    if (entry === 'dist') continue;
    // `docs/*.md`: the files of one folder that end so (the screenshots beside them stay out).
    const glob = /^([\w-]+)\/\*(\.\w+)$/.exec(entry);
    if (glob !== null) {
      const [, folder, extension] = glob as unknown as [string, string, string];
      mkdirSync(join(stage, folder), { recursive: true });
      for (const name of readdirSync(join(repo, folder)).filter((file) => file.endsWith(extension))) cpSync(join(repo, folder, name), join(stage, folder, name));
    } else if (entry.includes('*')) {
      throw new Error(`package.json files: the staging copy does not read the pattern ${entry}`);
    } else if (existsSync(join(repo, entry))) cpSync(join(repo, entry), join(stage, entry), { recursive: true });
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
  // A real install from the registry (the npm cache first): what a user's `npm install` downloads.
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--no-package-lock', tarball], project);
  installedPackages = packagesIn(join(project, 'node_modules')).filter((name) => name !== PACKAGE);
  // The optional peers, as a host that uses those entries would have them.
  for (const peer of Object.keys(manifest.peerDependencies ?? {})) linkFromRepo(peer);
  installed = join(project, 'node_modules', ...PACKAGE.split('/'));
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('is installed in the temporary project', () => {
    expect(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).name).toBe(PACKAGE);
  });

  it('installs its declared dependencies and theirs, and nothing it bundles', () => {
    const declared = Object.keys(manifest.dependencies ?? {});
    expect(installedPackages.toSorted()).toEqual(dependencyClosure(declared).toSorted());
    for (const bundled of ['ky', 'p-retry', 'is-network-error']) {
      expect(installedPackages, `${bundled} is bundled into the build, yet installed`).not.toContain(bundled);
    }
  });

  it('declares as dependencies exactly the packages its build imports; the rest is bundled, or an optional peer', () => {
    const builtins = new Set(builtinModules);
    const imported = new Set<string>();
    for (const file of filesUnder(join(installed, 'dist')).filter((name) => /\.c?js$/.test(name))) {
      for (const specifier of importSpecifiers(readFileSync(file, 'utf8'))) {
        if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
        const name = packageName(specifier);
        if (!builtins.has(name)) imported.add(name);
      }
    }
    const peers = Object.keys(manifest.peerDependencies ?? {});
    expect([...imported].filter((name) => !peers.includes(name)).toSorted()).toEqual(Object.keys(manifest.dependencies ?? {}).toSorted());
  });

  it('holds the build, the manifest, the docs and the test vectors, and no sources or tests', () => {
    expect(packedFiles).toContain('package.json');
    expect(packedFiles).toContain('test-vectors.json');
    // The README links the guides for other languages: they travel with it.
    expect(packedFiles).toContain('docs/verifying-in-other-languages.md');
    for (const file of packedFiles) {
      expect(file, `${file} should not be in the tarball`).toMatch(/^(dist\/|docs\/[a-z-]+\.md$|package\.json$|test-vectors\.json$|README\.md$|CHANGELOG\.md$|LICENSE)/);
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

for (const [title, option, entry] of [
  ['the dispatcher in a worker thread', "{ thread: 'worker' }", 'dispatcher-worker'],
  ["the dispatcher's storage calls in a worker thread", "{ storageThread: 'worker' }", 'storage-worker'],
] as const) {
  describe(`${title}, from the build`, () => {
    /** Publishes on a SQLite file with the option, posting to a loopback server; prints what arrived. */
    const script = (load: string, file: string) => `
      ${load}
      const { createServer } = require('node:http');
      const server = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(204); res.end(); }); });
      server.listen(0, '127.0.0.1', async () => {
        const webhooks = main.createWebhooks({ storage: sqlite.createSqliteStorage({ filename: ${JSON.stringify(file)} }), security: { allowPrivateNetworks: true }, dispatcher: ${option} });
        const delivered = [];
        webhooks.bus.on('delivery:succeeded', (event) => delivered.push(event.eventId));
        await webhooks.start();
        await webhooks.subscriptions.create({ url: 'http://127.0.0.1:' + server.address().port + '/hooks', eventTypes: ['*'] });
        const published = [];
        for (let n = 0; n < 5; n++) {
          const data = { paymentId: 'pay_' + n, customerId: 'cus_1', amount: { amount: 100, currency: 'EUR' }, method: 'card', occurredAt: '2026-11-26T12:00:00.000Z' };
          published.push((await webhooks.publish('payment.succeeded', data)).id);
        }
        await webhooks.drain({ timeoutMs: 20000 });
        const metrics = await webhooks.metrics();
        await webhooks.close();
        server.close();
        console.log(JSON.stringify({ all: published.every((id) => delivered.includes(id)), count: delivered.length, counted: metrics.deliveriesSucceeded }));
      });
    `;
    const require = `const require = (await import('node:module')).createRequire(import.meta.url);`;

    it('ships the thread\'s entry in both builds', () => {
      expect(packedFiles).toContain(`dist/${entry}.js`);
      expect(packedFiles).toContain(`dist/${entry}.cjs`);
    });

    it('starts the thread from the ESM build (import) and delivers, the process exiting after close()', () => {
      const load = `${require} const main = await import(${JSON.stringify(PACKAGE)}); const sqlite = await import(${JSON.stringify(`${PACKAGE}/sqlite`)});`;
      expect(node('esm', script(load, join(work, `${entry}-esm.db`)))).toEqual({ all: true, count: 5, counted: 5 });
    });

    it('starts the thread from the CJS build (require) and delivers, the process exiting after close()', () => {
      const load = `const main = require(${JSON.stringify(PACKAGE)}); const sqlite = require(${JSON.stringify(`${PACKAGE}/sqlite`)});`;
      expect(node('cjs', script(load, join(work, `${entry}-cjs.db`)))).toEqual({ all: true, count: 5, counted: 5 });
    });
  });
}

describe('the test vectors subpath', () => {
  const specifier = `${PACKAGE}/test-vectors.json`;
  const shipped = JSON.parse(readFileSync(join(repo, 'test-vectors.json'), 'utf8')) as unknown;

  it('loads with require and with import (type json), as the file of the repository', () => {
    expect(node('cjs', `console.log(JSON.stringify(require(${JSON.stringify(specifier)})));`)).toEqual(shipped);
    expect(
      node('esm', `const m = await import(${JSON.stringify(specifier)}, { with: { type: 'json' } }); console.log(JSON.stringify(m.default));`),
    ).toEqual(shipped);
  });

  it('is verified by the installed receiver entry: every valid vector accepted, every invalid one refused with its code', () => {
    const result = node(
      'esm',
      `
      const { default: vectors } = await import(${JSON.stringify(specifier)}, { with: { type: 'json' } });
      const receiver = await import(${JSON.stringify(`${PACKAGE}/receiver`)});
      const verdict = (vector) => {
        const options = { secrets: vector.secrets, now: new Date(vector.now * 1000) };
        const message = { body: vector.body, headers: vector.headers };
        try {
          if (vector.environment === undefined) receiver.verifyWebhookSignature(message, options);
          else receiver.verifyWebhook(message, { ...options, environment: vector.environment });
          return 'verified';
        } catch (error) {
          return error.code;
        }
      };
      console.log(JSON.stringify({
        valid: vectors.valid.map(verdict),
        invalid: vectors.invalid.map(verdict),
        expected: vectors.invalid.map((vector) => vector.error),
      }));
      `,
    ) as { valid: string[]; invalid: string[]; expected: string[] };
    expect(result.valid.length).toBeGreaterThan(0);
    expect(result.valid.filter((verdict) => verdict !== 'verified')).toEqual([]);
    expect(result.invalid).toEqual(result.expected);
  });
});

/** Static and dynamic import specifiers of an ES module's text. */
function importSpecifiers(code: string): string[] {
  const found: string[] = [];
  // A specifier holds no whitespace: text such as `"catalog export",\n  summary: "…"` (a CLI
  // command's name) is no import.
  const patterns = [
    /\b(?:import|export)\s*(?:[\w*${}\s,]+?\s*from\s*)?["']([^"'\s]+)["']/g,
    /\bimport\s*\(\s*["']([^"'\s]+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"'\s]+)["']\s*\)/g,
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

/** The TypeScript set-ups a user's project may have: each must compile the package's types. */
const consumers = [
  { name: 'node10 (CommonJS)', type: 'commonjs', module: 'commonjs', moduleResolution: 'node10' },
  { name: 'node16 (CommonJS)', type: 'commonjs', module: 'node16', moduleResolution: 'node16' },
  { name: 'node16 (ESM)', type: 'module', module: 'node16', moduleResolution: 'node16' },
  { name: 'nodenext (CommonJS)', type: 'commonjs', module: 'nodenext', moduleResolution: 'nodenext' },
  { name: 'nodenext (ESM)', type: 'module', module: 'nodenext', moduleResolution: 'nodenext' },
  { name: 'bundler', type: 'module', module: 'esnext', moduleResolution: 'bundler' },
];

/** Uses every entry, so each entry's types (and whatever they import) are resolved and checked. */
const consumerSource = `
import { createFetchTransport, createWebhooks, isWebhookError, type FetchTransportOptions } from '${PACKAGE}';
import { verifyWebhook } from '${PACKAGE}/receiver';
import { createSqliteStorage } from '${PACKAGE}/sqlite';
import { createPostgresStorage } from '${PACKAGE}/postgres';

const hooks: FetchTransportOptions['hooks'] = {
  beforeRequest: [(request) => void request.headers.set('traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')],
  afterResponse: [(_request, _options, response) => void response.status],
};
export const webhooks = createWebhooks({
  storage: createSqliteStorage({ filename: 'webhooks.db' }),
  transport: createFetchTransport({ hooks }),
});
export const shared = createPostgresStorage({ connectionString: 'postgres://localhost/bookkeeper' });
// Fails to compile if the types were lost to \`any\` on the way.
// @ts-expect-error a subscription URL is a string
void webhooks.subscriptions.create({ url: 42, eventTypes: ['payment.*'] });

export function eventType(body: string, headers: Record<string, string>): string {
  try {
    return verifyWebhook({ body, headers }, { secrets: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }).type;
  } catch (error) {
    return isWebhookError(error) ? error.code : 'unknown';
  }
}
`;

/** Runs tsc on a consumer folder; resolves to its diagnostics ('' when it compiles). */
function typecheck(folder: string): Promise<string> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', folder],
      { cwd: folder, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
      (error, stdout, stderr) => done(error ? `${stdout}${stderr}`.trim() || String(error) : ''),
    );
  });
}

describe('the types, compiled by a consumer with skipLibCheck off', () => {
  const diagnostics = new Map<string, string>();

  beforeAll(async () => {
    // What a user's project has beside the package: Node's types, and the peers' types.
    for (const types of ['@types/node', '@types/better-sqlite3', '@types/pg']) linkFromRepo(types);
    const folders = consumers.map((consumer) => {
      const folder = join(project, 'consumers', consumer.name.replace(/\W+/g, '-'));
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: consumer.type }));
      writeFileSync(join(folder, 'consumer.ts'), consumerSource);
      writeFileSync(
        join(folder, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: consumer.module,
            moduleResolution: consumer.moduleResolution,
            target: 'es2022',
            lib: ['es2023'],
            types: ['node'],
            strict: true,
            // What `tsc --init` writes; zod's and better-sqlite3's types need it under node10.
            esModuleInterop: true,
            skipLibCheck: false,
            noEmit: true,
          },
          files: ['consumer.ts'],
        }),
      );
      return folder;
    });
    // Two compilers at a time: each checks the whole of zod's and Node's types.
    for (let next = 0; next < consumers.length; next += 2) {
      const pair = consumers.slice(next, next + 2);
      const outputs = await Promise.all(pair.map((_consumer, index) => typecheck(folders[next + index]!)));
      pair.forEach((consumer, index) => diagnostics.set(consumer.name, outputs[index]!));
    }
  }, 480_000);

  it.each(consumers)('compile under moduleResolution $name', (consumer) => {
    expect(diagnostics.get(consumer.name)).toBe('');
  });
});

describe('the bookkeeper-webhooks bin', () => {
  it('is linked by the install and runs from the built package: --help exits 0, an unknown command exits 2', () => {
    expect(manifest.bin).toEqual({ 'bookkeeper-webhooks': './dist/cli/index.js' });
    expect(packedFiles).toContain('dist/cli/index.js');
    const bin = join(project, 'node_modules', '.bin', 'bookkeeper-webhooks');
    // Run as a shell runs it: through the link and the file's own `#!/usr/bin/env node`.
    const help = run(bin, ['--help'], project);
    expect(help).toMatch(/^Usage: bookkeeper-webhooks <command> \[options\]/);
    for (const command of ['listen', 'trigger', 'sign', 'verify', 'catalog export', 'catalog list', 'deliveries list', 'deliveries redeliver', 'deliveries replay', 'send-test']) {
      expect(help).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    }
    const unknown = spawnSync(bin, ['frobnicate'], { cwd: project, encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('Unknown command "frobnicate"');
  });

  it('signs and verifies with the built package: what sign prints, verify accepts', () => {
    const bin = join(project, 'node_modules', '.bin', 'bookkeeper-webhooks');
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = join(work, 'bin-body.json');
    writeFileSync(body, '{"hello":"world"}');
    const headers = join(work, 'bin-headers.txt');
    writeFileSync(headers, run(bin, ['sign', body, '--secret', secret], project));
    expect(run(bin, ['verify', body, '--headers', headers, '--secret', secret, '--json'], project)).toMatch(/"valid": true/);
  });
});
