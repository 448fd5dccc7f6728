import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The bench is not part of `npm test` and nothing here asserts on timing: this only
// checks that a tiny run completes and writes a report with the expected figures.
const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = import.meta.resolve('tsx');

interface Report {
  run: { mode: string; node: string; cpuCount: number; date: string; storages: { available: string[] }; errors: unknown[] };
  figures: Array<{
    id: string;
    value: number;
    unit: string;
    valid: boolean;
    pass: boolean | null;
    note: string | null;
    detail: Record<string, unknown>;
    limit: { kind: string; value: number; ratio: number; target: unknown; pass: boolean | null } | null;
    peer: { kind: string; value: number; ratio: number; target: unknown; pass: boolean | null } | null;
  }>;
}

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, 'bench/run.ts', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run bench at the tiny size', () => {
  let outDir: string;
  let result: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'webhooks-bench-smoke-'));
    // Only the storages that need nothing outside this machine: PostgreSQL has its own tests.
    result = await runBench(['--tiny', '--out', outDir, '--storages', 'memory,sqlite']);
  }, 180_000);

  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('exits 0 and prints the table of figures', () => {
    expect(result.stderr).not.toMatch(/ERROR in/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^figure\s+ours\s+limit/m);
    expect(result.stdout).toMatch(/^dispatch\.memory\s/m);
  });

  it('writes latest.json with the run facts and every expected figure', async () => {
    const report = JSON.parse(await readFile(join(outDir, 'latest.json'), 'utf8')) as Report;
    expect(report.run.mode).toBe('tiny');
    expect(report.run.node).toBe(process.version);
    expect(report.run.cpuCount).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(report.run.date))).toBe(false);
    expect(report.run.storages.available).toEqual(['memory', 'sqlite']);
    expect(report.run.errors).toEqual([]);

    const ids = report.figures.map((figure) => figure.id);
    const expected = [
      'verify',
      'verify.async',
      'sign',
      'sign.dispatcher',
      'dispatch.memory.payload-key',
      ...['memory', 'sqlite'].flatMap((storage) => [
        `dispatch.${storage}`,
        `publish.${storage}.p50`,
        `publish.${storage}.p99`,
        `publish.${storage}.floor`,
        `publish.${storage}.max`,
        `publish.${storage}.batch`,
        `tenants.${storage}.p99`,
        `tenants.${storage}.batch`,
        `e2e.steady.${storage}.p50`,
        `e2e.steady.${storage}.p99`,
        `e2e.burst.${storage}.p50`,
        `e2e.burst.${storage}.p99`,
        ...['claim', 'stats', 'list', 'deep', 'undelivered', 'purge'].map((operation) => `backlog.${storage}.${operation}-growth`),
        ...['1k', '2k'].flatMap((size) => ['claim', 'stats', 'list', 'deep', 'undelivered', 'purge', 'fill', 'rss'].map((kind) => `backlog.${storage}.${size}.${kind}`)),
        ...['purge-rate', 'default-pacing', 'dispatch', 'dispatch.catch-up'].map((figure) => `retention.${storage}.${figure}`),
        ...['throughput', 'p50', 'p99', 'event-loop-p99', 'event-loop-utilization', 'dispatch'].map((kind) => `host-impact.${storage}.main.${kind}`),
        `ordering.${storage}`,
        `ordering.${storage}.hot-key`,
        `ordering.${storage}.hot-key.ms-per-delivery`,
      ]),
      'peer.p-queue',
    ];
    expect(ids).toEqual(expect.arrayContaining(expected));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives each figure a finite value, and the targeted ones their baseline, ratio and verdict', async () => {
    const report = JSON.parse(await readFile(join(outDir, 'latest.json'), 'utf8')) as Report;
    for (const figure of report.figures) {
      expect(Number.isFinite(figure.value), figure.id).toBe(true);
      expect(figure.valid, figure.id).toBe(true);
      for (const baseline of [figure.limit, figure.peer]) {
        if (baseline === null) continue;
        expect(Number.isFinite(baseline.value) && Number.isFinite(baseline.ratio), figure.id).toBe(true);
        expect(typeof baseline.pass === 'boolean').toBe(baseline.target !== null);
      }
    }
    const byId = new Map(report.figures.map((figure) => [figure.id, figure]));
    expect(byId.get('verify')!.limit!.kind).toBe('limit');
    expect(byId.get('verify')!.peer!.kind).toBe('peer');
    // Ours against the bare loop that builds its HMAC as ours does.
    for (const id of ['verify', 'sign']) expect(Number.isFinite(byId.get(id)!.detail.oursVsOneShotLoop), id).toBe(true);
    expect(byId.get('dispatch.memory')!.limit!.target).toEqual({ on: 'ratio', op: '>=', value: 0.8 });
    expect(byId.get('dispatch.memory')!.peer!.target).toEqual({ on: 'ratio', op: '>=', value: 5 });
    expect(typeof byId.get('publish.memory.p99')!.pass).toBe('boolean');
    // security.payloadKey against the same dispatch without it, paired in each round.
    const sealed = byId.get('dispatch.memory.payload-key')!;
    expect(sealed.limit).toMatchObject({ kind: 'reference', target: null });
    expect(sealed.limit!.value).toBe(byId.get('dispatch.memory')!.value);
    expect(sealed.detail.roundRatios).toHaveLength(1);
    for (const key of ['sealMicroseconds', 'openMicroseconds']) expect(sealed.detail[key], key).toBeGreaterThan(0);
    // The jitter floor is sized to publish's median and explains its p99, it does not judge it.
    const floor = byId.get('publish.memory.floor')!;
    expect(floor.pass).toBeNull();
    // Sized again each of the 10 rounds.
    const compares = floor.detail.compares as number[];
    expect(compares).toHaveLength(10);
    for (const size of compares) expect(size).toBeGreaterThanOrEqual(1);
    // Growth from calls paired in one process: as many pairs as calls per trial (3 at this size; the
    // 1k reference log holds one retention batch of 500 past the warm-up one).
    for (const storage of ['memory', 'sqlite']) {
      for (const [operation, pairs] of [['claim', 3], ['stats', 3], ['list', 3], ['deep', 3], ['undelivered', 3], ['purge', 1]] as const) {
        const growth = byId.get(`backlog.${storage}.${operation}-growth`)!;
        expect(growth.detail.pairs, `${storage} ${operation}`).toBe(pairs);
        expect(growth.limit!.target).toEqual({ on: 'ratio', op: '<=', value: 2 });
        expect(Number.isFinite(growth.detail.separateProcessesRatio), `${storage} ${operation}`).toBe(true);
      }
      // A retention batch removes 500 deliveries with their attempts and events.
      expect(byId.get(`backlog.${storage}.2k.purge`)!.detail.rowsRemoved, storage).toBe(1500);
    }
    // Fan-out among many tenants against a few, judged on the median of per-round ratios.
    for (const storage of ['memory', 'sqlite']) {
      for (const kind of ['p99', 'batch']) {
        const tenants = byId.get(`tenants.${storage}.${kind}`)!;
        expect(tenants.limit!.kind, storage).toBe('reference');
        expect(tenants.limit!.target, storage).toEqual({ on: 'ratio', op: '<=', value: 1.5 });
        expect(tenants.detail, storage).toMatchObject({ subscriptions: 200, tenants: 100, baselineSubscriptions: 10, fanOut: 2, rounds: 2 });
      }
      expect(byId.get(`tenants.${storage}.p99`)!.detail.roundP99Ratios, storage).toHaveLength(2);
    }
    // The host's API during a dispatch burst against the same load with the dispatcher idle, paired in each round.
    for (const storage of ['memory', 'sqlite']) {
      for (const kind of ['throughput', 'p50', 'p99', 'event-loop-p99', 'event-loop-utilization']) {
        const figure = byId.get(`host-impact.${storage}.main.${kind}`)!;
        expect(figure.limit, `${storage} ${kind}`).toMatchObject({ kind: 'reference', target: null });
        expect(figure.detail.roundRatios, `${storage} ${kind}`).toHaveLength(1);
      }
      const throughput = byId.get(`host-impact.${storage}.main.throughput`)!;
      // Every request due in either window was answered with a 201: the ledger wrote every entry.
      expect(throughput.detail.errors, storage).toEqual({ idle: [0], burst: [0] });
      expect(byId.get(`host-impact.${storage}.main.dispatch`)!.detail.arrived, storage).toEqual(['500/500']);
    }
    // The worker mode is refused on memory (it cannot re-open the storage in a worker): reported, not failed.
    expect([...byId.keys()].filter((id) => id.startsWith('host-impact.memory.worker.'))).toEqual([]);
    expect(byId.get('host-impact.memory.main.dispatch')!.note).toMatch(/^worker mode not available: [A-Z_]+: /);
    // On SQLite, the worker's figures carry the targets when the option exists; otherwise the main mode says why not.
    const sqliteWorker = byId.get('host-impact.sqlite.worker.dispatch');
    if (sqliteWorker === undefined) {
      expect(byId.get('host-impact.sqlite.main.dispatch')!.note).toMatch(/^worker mode not available: [A-Z_]+: /);
    } else {
      expect(sqliteWorker.limit!.target).toEqual({ on: 'ratio', op: '>=', value: 1 });
      expect(byId.get('host-impact.sqlite.worker.throughput')!.limit!.target).toEqual({ on: 'ratio', op: '>=', value: 0.9 });
      expect(byId.get('host-impact.sqlite.worker.p99')!.limit!.target).toEqual({ on: 'ratio', op: '<=', value: 2 });
    }
    // Ordered dispatch against the same backlog unordered, paired; the hot key reported against one bare post at a time.
    for (const storage of ['memory', 'sqlite']) {
      const keys = byId.get(`ordering.${storage}`)!;
      expect(keys.limit, storage).toMatchObject({ kind: 'reference', target: { on: 'ratio', op: '>=', value: 0.7 } });
      expect(keys.detail.roundRatios, storage).toHaveLength(1);
      expect(keys.detail.order, storage).toEqual([{ sequenced: 200, outOfOrder: 0, misnumbered: 0, keysIncomplete: 0, unknown: 0 }]);
      const hot = byId.get(`ordering.${storage}.hot-key`)!;
      expect(hot.limit, storage).toMatchObject({ kind: 'limit', target: null });
      expect(hot.pass, storage).toBeNull();
      expect(hot.detail.order, storage).toEqual([{ sequenced: 50, outOfOrder: 0, misnumbered: 0, keysIncomplete: 0, unknown: 0 }]);
      expect(byId.get(`ordering.${storage}.hot-key.ms-per-delivery`)!.unit, storage).toBe('ms');
    }
    expect(result.stdout).toMatch(/^ordering\.memory\.hot-key\s.*\sreported$/m);
    // The memory-side peer: a p-queue of bare posts, reported; its sampled signatures verify with ours.
    const pQueue = byId.get('peer.p-queue')!;
    expect(pQueue.peer).toMatchObject({ kind: 'peer', target: null, pass: null });
    expect(pQueue.pass).toBeNull();
    expect(pQueue.detail).toMatchObject({ rounds: 1, arrived: ['200/200'], peer: { arrived: ['200/200'], verifiedSignatures: ['20/20'] } });
    // graphile-worker is the PostgreSQL peer: no figure without the storage.
    expect(byId.has('peer.graphile-worker')).toBe(false);
    expect(byId.get('publish.memory.p99')!.detail.duringPublish).toEqual({
      collections: expect.any(Number),
      collectionMs: expect.any(Number),
      minorPageFaultsPerPublish: expect.any(Number),
    });
  });

  it('writes latest.md embedding latency.svg, and the SVG it embeds', async () => {
    const markdown = await readFile(join(outDir, 'latest.md'), 'utf8');
    expect(markdown).toContain('](latency.svg)');
    expect(markdown).toMatch(/\| dispatch\.memory \|/);
    const svg = await readFile(join(outDir, 'latency.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('<path d="M');
  });
});
