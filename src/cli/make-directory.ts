/**
 * `mkdir -p` for the CLI's output folders, without `fs.mkdir`'s `recursive` option: on
 * Linux, Node's recursive mkdir loops for ever (100 % CPU, no error) under a folder that
 * refuses new entries with ENOENT although it exists, such as /proc (`catalog export --out
 * /proc/x` hung). Here each missing level is made in turn, from the nearest one that
 * exists, and a level that still cannot be made fails with its own error.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes `dir` and its missing parents (each with `mode`); an existing folder is fine. */
export async function makeDirectory(dir: string, mode?: number): Promise<void> {
  try {
    await mkdir(dir, { mode });
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await stat(dir)).isDirectory()) return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw error;
    await makeDirectory(parent, mode);
  }
  // The parent exists now: a second failure is this level's own (thrown as it comes).
  await mkdir(dir, { mode });
}
