/**
 * CPU time of the PostgreSQL server's processes on this machine (Linux `/proc`): every
 * process whose command name starts with `postgres` (the postmaster, its backends, the WAL
 * writer, the checkpointer), user and system time summed with that of their exited
 * children, in ms. `null` where `/proc` cannot
 * be read or no such process runs (another OS, a database on another machine): the figure's
 * detail then leaves the database's CPU out.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ; 100 on Linux for every architecture in use). */
const ticksPerSecond = 100;

export function postgresCpuMs(): number | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  let ticks = 0;
  let found = false;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      continue; // gone since the listing
    }
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (!stat.slice(open + 1, close).startsWith('postgres')) continue;
    const fields = stat.slice(close + 2).split(' ');
    // After comm: state is field 3; utime, stime, cutime, cstime are fields 14–17 (1-based,
    // man 5 proc). The c- fields hold the postmaster's exited backends, so a backend that
    // ends between two readings keeps its time in the sum.
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    found = true;
  }
  return found ? (ticks * 1000) / ticksPerSecond : null;
}
