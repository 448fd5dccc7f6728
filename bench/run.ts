/**
 * `npm run bench`: measures the library against the limit of this machine and against
 * what a user would pick instead, side by side in one run, and writes the report.
 * See bench/README.md and `npm run bench -- --help`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, type BenchOptions } from './config.js';
import { BenchContext } from './context.js';
import { markdownReport } from './markdown.js';
import { runInfo, textTable, type Section } from './report.js';
import { discoverStorages } from './storages.js';
import { latencyHistogramSvg } from './svg-chart.js';
import { runBacklog } from './suites/backlog.js';
import { runDispatch } from './suites/dispatch.js';
import { runEndToEnd } from './suites/end-to-end.js';
import { runHostImpact } from './suites/host-impact.js';
import { runOrdering } from './suites/ordering.js';
import { runPeers } from './suites/peers.js';
import { runPublish } from './suites/publish.js';
import { runRetention } from './suites/retention.js';
import { runSigning } from './suites/signing.js';
import { runTenants } from './suites/tenants.js';

const suites: Record<Section, (context: BenchContext) => Promise<void>> = {
  signing: runSigning,
  dispatch: runDispatch,
  publish: runPublish,
  tenants: runTenants,
  'end-to-end': runEndToEnd,
  backlog: runBacklog,
  retention: runRetention,
  'host-impact': runHostImpact,
  ordering: runOrdering,
  peers: runPeers,
};

const usage = `Usage: npm run bench -- [--quick | --tiny] [--out <dir>] [--only <sections>] [--storages <names>] [--receiver raw|http]
  --quick      reduced run, under a minute
  --tiny       seconds (the smoke test); also BENCH_SIZE=tiny
  --out        folder for latest.json, latest.md, latency.svg (default bench/results)
  --only       some of: signing, dispatch, publish, tenants, end-to-end, backlog, retention, host-impact, ordering, peers
  --storages   some of: memory, sqlite, postgres (default: all found)
  --receiver   raw (node:net, default) or http (node:http) loopback receiver`;

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(message === 'help' ? `${usage}\n` : `${message}\n${usage}\n`);
    process.exitCode = message === 'help' ? 0 : 2;
    return;
  }
  const started = performance.now();
  const discovery = await discoverStorages(options.storages);
  const context = new BenchContext(options, discovery.available);
  context.log(`mode ${options.mode}; storages: ${discovery.available.map((s) => s.name).join(', ')}`);
  for (const skipped of discovery.skipped) context.log(`storage ${skipped.name} skipped: ${skipped.reason}`);

  try {
    for (const section of options.sections) {
      const sectionStart = performance.now();
      try {
        await suites[section](context);
      } catch (error) {
        context.fail(section, null, error);
      }
      context.log(`${section} done in ${((performance.now() - sectionStart) / 1000).toFixed(1)} s`);
    }
  } finally {
    await context.close();
  }

  const info = runInfo({
    mode: options.mode,
    durationSeconds: Math.round((performance.now() - started) / 100) / 10,
    receiver: options.receiver === 'raw' ? 'node:net minimal HTTP/1.1 server, separate process' : 'node:http server, separate process',
    storages: { available: discovery.available.map((s) => s.name), skipped: discovery.skipped },
    sections: options.sections,
    errors: context.errors,
  });
  await mkdir(options.outDir, { recursive: true });
  const svg = latencyHistogramSvg(
    context.charts,
    `End-to-end latency (publish() called → body fully arrived at the receiver process), ${info.node}, ${info.cpuCount} CPUs, ${info.date.slice(0, 10)}, ${info.mode} run`,
  );
  await writeFile(join(options.outDir, 'latency.svg'), svg);
  await writeFile(join(options.outDir, 'latest.json'), `${JSON.stringify({ run: info, figures: context.figures }, null, 2)}\n`);
  await writeFile(join(options.outDir, 'latest.md'), markdownReport(info, context.figures));

  process.stdout.write(`\n${textTable(context.figures)}\n\n`);
  const missed = context.figures.filter((f) => f.valid && f.pass === false).map((f) => f.id);
  const invalid = context.figures.filter((f) => !f.valid).map((f) => f.id);
  process.stdout.write(
    `${info.mode} run, ${info.node}, ${info.cpuCount} CPUs, ${info.durationSeconds} s; targets missed: ${missed.length === 0 ? 'none' : missed.join(', ')}` +
      `${invalid.length > 0 ? `; invalid: ${invalid.join(', ')}` : ''}` +
      `${context.errors.length > 0 ? `; ${context.errors.length} error(s)` : ''}\nwritten to ${options.outDir}\n`,
  );
  // A missed target is a finding, not a failure of the bench; an error or an invalid figure is.
  if (context.errors.length > 0 || invalid.length > 0) process.exitCode = 1;
}

await main();
// Pools and sockets of the trials are closed, but a driver may keep a timer: do not hang.
process.exit();
