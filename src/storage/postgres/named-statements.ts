/**
 * Names for the fixed statements, so that PostgreSQL parses and plans each once per
 * connection instead of on every call: the claim, settle and enqueue CTEs cost more to
 * plan than to run (figures in bench/README).
 */
import { createHash } from 'node:crypto';

/** Statement text → prepared-statement name, remembered per adapter. */
export class StatementNames {
  readonly #names = new Map<string, string>();

  nameOf(text: string): string {
    let name = this.#names.get(text);
    if (name === undefined) {
      // Named after the text itself: two adapters (two schemas, or two copies of this
      // package) sharing a host pool can never give one name two different texts.
      name = `bookkeeper_webhooks_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
      this.#names.set(text, name);
    }
    return name;
  }
}
