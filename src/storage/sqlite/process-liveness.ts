/**
 * Whether the process that holds leases on a SQLite file is provably gone, so that a
 * restarted instance can take its deliveries back at once instead of waiting out the
 * leases (`leaseMs`, 60 s by default).
 *
 * Proof needs a pid that means the same thing to both processes, and a way to tell a
 * reused pid from the original process. Both come from Linux's /proc: the host is named by
 * its hostname, its boot id and the pid namespace (two containers on one machine share the
 * boot id but not the namespace, and pid 1 is a different process in each); the process by
 * its pid and its start time (field 22 of /proc/<pid>/stat, clock ticks since boot), which
 * a later process given the same pid does not share. Without /proc (macOS, Windows, a
 * sandbox that hides it) nothing is provable and leases expire as usual.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** Who holds leases: what an instance row records. */
export interface ProcessIdentity {
  /** Hostname, boot id and pid namespace; `null` where /proc cannot tell them. */
  readonly host: string | null;
  readonly pid: number;
  /** Start time of the process in clock ticks since boot; `null` where unknown. */
  readonly startedTicks: string | null;
}

function readOrNull(read: () => string): string | null {
  try {
    return read().trim();
  } catch {
    return null;
  }
}

/**
 * Fields 3 (`state`) and 22 (`starttime`) of /proc/<pid>/stat; `null` when unreadable. The
 * second field, the command name, is in parentheses and may itself hold spaces and
 * parentheses, so fields are counted from the last `)`.
 */
export function readProcessStat(pid: number): { state: string; startedTicks: string } | null {
  const stat = readOrNull(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command, field 3 is fields[0], so field 22 is fields[19].
  const [state, ticks] = [fields[0], fields[19]];
  return state !== undefined && ticks !== undefined && /^\d+$/.test(ticks) ? { state, startedTicks: ticks } : null;
}

/** This process as an instance row records it. */
export function currentProcessIdentity(): ProcessIdentity {
  const bootId = readOrNull(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
  const pidNamespace = readOrNull(() => readlinkSync('/proc/self/ns/pid'));
  const startedTicks = readProcessStat(process.pid)?.startedTicks ?? null;
  const host = bootId === null || pidNamespace === null || startedTicks === null ? null : `${hostname()} ${bootId} ${pidNamespace}`;
  return { host, pid: process.pid, startedTicks };
}

/**
 * True only when `holder` is proven gone as seen from `self`: the same host (and pid
 * namespace), and its pid either no longer exists or now belongs to a process started at
 * another time. A holder on another host, or one that cannot be checked, is not gone.
 */
export function isProvenGone(holder: ProcessIdentity, self: ProcessIdentity): boolean {
  if (self.host === null || holder.host !== self.host || holder.startedTicks === null) return false;
  // This process itself (another adapter on the same file, or one closed without saying so).
  if (holder.pid === self.pid && holder.startedTicks === self.startedTicks) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ESRCH') return true;
    // EPERM: a process with that pid exists (another user's); its start time decides.
    if (code !== 'EPERM') return false;
  }
  const stat = readProcessStat(holder.pid);
  if (stat === null) return false;
  // A zombie (killed, not yet reaped by its parent) or dead task can no longer post or settle.
  return stat.startedTicks !== holder.startedTicks || stat.state === 'Z' || stat.state === 'X';
}
