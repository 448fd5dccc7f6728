/**
 * The proof a restarted SQLite instance needs before it takes back another instance's
 * leases: checked against real processes (children spawned and killed here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { currentProcessIdentity, isProvenGone, readProcessStat, type ProcessIdentity } from '../../../src/storage/sqlite/process-liveness.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A live child process, and its identity as its own instance row would record it. */
async function liveChild(): Promise<{ child: ChildProcess; identity: ProcessIdentity }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  await once(child, 'spawn');
  const stat = readProcessStat(child.pid!);
  expect(stat).not.toBeNull();
  return { child, identity: { host: currentProcessIdentity().host, pid: child.pid!, startedTicks: stat!.startedTicks } };
}

describe('process liveness (Linux /proc)', () => {
  const self = currentProcessIdentity();

  it('names this process by host, pid and start time', () => {
    expect(self.host).toEqual(expect.any(String));
    expect(self.pid).toBe(process.pid);
    expect(self.startedTicks).toMatch(/^\d+$/);
  });

  it('does not prove gone a live process, nor this process itself', async () => {
    const { identity } = await liveChild();
    expect(isProvenGone(identity, self)).toBe(false);
    expect(isProvenGone(self, self)).toBe(false);
  });

  it('proves gone a process that was killed and reaped', async () => {
    const { child, identity } = await liveChild();
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(isProvenGone(identity, self)).toBe(true);
  });

  it('proves gone a holder whose pid now belongs to a process started at another time (a reused pid)', async () => {
    const { identity } = await liveChild();
    expect(isProvenGone({ ...identity, startedTicks: String(Number(identity.startedTicks) + 1) }, self)).toBe(true);
  });

  it('never proves gone a holder on another host or pid namespace, or one that recorded no host or start time', async () => {
    const { child, identity } = await liveChild();
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(isProvenGone({ ...identity, host: `${identity.host!} elsewhere` }, self)).toBe(false);
    expect(isProvenGone({ ...identity, host: null }, self)).toBe(false);
    expect(isProvenGone({ ...identity, startedTicks: null }, self)).toBe(false);
    expect(isProvenGone(identity, { ...self, host: null })).toBe(false);
  });

  it('reads the state and the start time of a process from its /proc stat', () => {
    const stat = readProcessStat(process.pid);
    expect(stat).toEqual({ state: expect.stringMatching(/^[A-Z]$/), startedTicks: self.startedTicks });
  });
});
