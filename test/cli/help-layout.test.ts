/**
 * The `--help` texts as printed: every command's option descriptions start in one column,
 * so that the shared lines (`--storage`, `--catalog`, `--json`) and a command's own read as
 * one table. A flag too long for the column stands on its own line, its description below.
 */
import { describe, it } from 'vitest';
import { commands } from '../../src/cli/commands/index.js';

/** Where a description starts: two spaces of indent and 24 for the flag. */
const DESCRIPTION_COLUMN = 26;

describe('--help layout', () => {
  it.for(commands.map((command) => command.name))('%s: every option description starts in column 26', (name, { expect }) => {
    const help = commands.find((command) => command.name === name)!.help;
    const lines = help.split('\n');
    const options = lines.slice(lines.indexOf('Options:') + 1);
    const table = options.slice(0, options.includes('') ? options.indexOf('') : undefined);
    expect(table.length).toBeGreaterThan(0);
    const misplaced = table.filter((line) => {
      const flagged = /^( {2}(?:-\w, )?--\S+(?: <[^>]+>)?)( {2,})\S/.exec(line);
      if (flagged !== null) return flagged[1]!.length + flagged[2]!.length !== DESCRIPTION_COLUMN;
      // A continuation line, or a long flag alone on its line.
      return !/^ {2}-/.test(line) && !line.startsWith(' '.repeat(DESCRIPTION_COLUMN));
    });
    expect(misplaced).toEqual([]);
  });
});
