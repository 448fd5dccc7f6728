/**
 * Terminal colours, only where a person reads them: on a TTY, and not when `NO_COLOR` is
 * set to anything non-empty (https://no-color.org). Piped output stays plain text that
 * scripts and `grep` can read.
 */

/** A function that wraps text in one style (or returns it unchanged when colours are off). */
export type Paint = (text: string) => string;

/** The styles the CLI uses. */
export interface Style {
  readonly enabled: boolean;
  readonly bold: Paint;
  readonly dim: Paint;
  readonly red: Paint;
  readonly green: Paint;
  readonly yellow: Paint;
  readonly cyan: Paint;
}

function sgr(open: number, close: number): Paint {
  return (text) => `\u001b[${open}m${text}\u001b[${close}m`;
}

const plain: Paint = (text) => text;

/** The styles for `stream` under `env`. */
export function createStyle(stream: { isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): Style {
  const enabled = stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
  if (!enabled) return { enabled, bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
  return { enabled, bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}
