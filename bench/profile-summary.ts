/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function,
 * overall and within our code (`src/`), as a share of all sampled time.
 *
 *   npx tsx bench/profile-target.ts dispatch memory --profile /tmp/dispatch.cpuprofile   (see there)
 *   npx tsx bench/profile-summary.ts /tmp/dispatch.cpuprofile [--top 25] [--filter src/]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  location: string;
  ms: number;
  share: number;
}

function shortUrl(url: string): string {
  const at = url.lastIndexOf('/src/');
  if (at !== -1) return url.slice(at + 1);
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) return url.slice(modules + '/node_modules/'.length);
  return url.replace(/^file:\/\//, '') || '(native)';
}

function keyOf(node: ProfileNode): { key: string; name: string; location: string } {
  const frame = node.callFrame;
  const name = frame.functionName || '(anonymous)';
  // Line numbers of code transpiled on the fly (tsx) do not point into the .ts source: files only.
  const location = shortUrl(frame.url);
  return { key: `${name} ${location}`, name, location };
}

/**
 * Self time per function (name + file), largest first; and total time (the function
 * or anything it called synchronously was on the stack, counted once per sample).
 */
export function selfTimes(profile: Profile): { totalMs: number; rows: SelfTime[]; inclusive: SelfTime[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const perNode = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the following interval to it.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    perNode.set(profile.samples[i]!, (perNode.get(profile.samples[i]!) ?? 0) + delta);
    totalUs += delta;
  }
  const grouped = new Map<string, SelfTime>();
  const inclusive = new Map<string, SelfTime>();
  for (const [id, us] of perNode) {
    const { key, name, location } = keyOf(byId.get(id)!);
    const row = grouped.get(key) ?? { name, location, ms: 0, share: 0 };
    row.ms += us / 1000;
    grouped.set(key, row);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = keyOf(byId.get(at)!);
      if (seen.has(frame.key)) continue;
      seen.add(frame.key);
      const total = inclusive.get(frame.key) ?? { name: frame.name, location: frame.location, ms: 0, share: 0 };
      total.ms += us / 1000;
      inclusive.set(frame.key, total);
    }
  }
  const finish = (map: Map<string, SelfTime>): SelfTime[] => {
    const rows = [...map.values()].sort((a, b) => b.ms - a.ms);
    for (const row of rows) row.share = totalUs === 0 ? 0 : row.ms / (totalUs / 1000);
    return rows;
  };
  return { totalMs: totalUs / 1000, rows: finish(grouped), inclusive: finish(inclusive) };
}

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find((arg) => !arg.startsWith('--'));
  if (file === undefined) {
    process.stderr.write('Usage: tsx bench/profile-summary.ts <file.cpuprofile> [--top N] [--filter text]\n');
    process.exitCode = 2;
    return;
  }
  const topIndex = args.indexOf('--top');
  const top = topIndex === -1 ? 25 : Number(args[topIndex + 1]);
  const filterIndex = args.indexOf('--filter');
  const filter = filterIndex === -1 ? 'src/' : args[filterIndex + 1]!;
  const { totalMs, rows, inclusive } = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const print = (title: string, list: SelfTime[]): void => {
    process.stdout.write(`\n${title}\n`);
    for (const row of list.slice(0, top)) {
      process.stdout.write(`${(row.share * 100).toFixed(1).padStart(5)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}  ${row.location}\n`);
    }
  };
  process.stdout.write(`sampled ${totalMs.toFixed(0)} ms\n`);
  print('top self time, everything:', rows);
  const ours = rows.filter((row) => row.location.startsWith(filter));
  const oursMs = ours.reduce((sum, row) => sum + row.ms, 0);
  print(`top self time in ${filter} (${((oursMs / totalMs) * 100).toFixed(1)}% of all):`, ours);
  print(`top total time (self + synchronous callees) of functions in ${filter}:`, inclusive.filter((row) => row.location.startsWith(filter)));
}

if (import.meta.url === `file://${process.argv[1]}`) main();
