/** POSIX shell quoting for the commands the CLI prints (`sign --curl`). */

/** `value` as one single-quoted shell word: `'` becomes `'\''`. */
export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
