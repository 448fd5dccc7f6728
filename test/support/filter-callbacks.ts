/**
 * Payload-filter callbacks for the storage tests. A storage keeps a subscription's filter as
 * opaque text and hands it to the core's callback (`matchesFilter`), which decides; these
 * stand in for the core with a rule of the tests' own — a text `{"accept":[…]}` accepts the
 * events whose type or id it lists — and record every question asked.
 */
import type { EventRecord } from '../../src/storage/storage-adapter.js';

/** A filter text that accepts the events of these types or ids. */
export function acceptFilter(...keys: string[]): string {
  return JSON.stringify({ accept: keys });
}

function accepted(filter: string): string[] {
  return (JSON.parse(filter) as { accept: string[] }).accept;
}

/** An enqueue's callback for an event of `key` (its type or id): the texts it was asked about, in order. */
export function enqueueAsker(key: string): { asked: string[]; matchesFilter: (filter: string) => boolean } {
  const asked: string[] = [];
  return {
    asked,
    matchesFilter: (filter) => {
      asked.push(filter);
      return accepted(filter).includes(key);
    },
  };
}

/** A replay's callback: each (text, event) it was asked about, in order. */
export function replayAsker(): { asked: Array<{ filter: string; event: EventRecord }>; matchesFilter: (filter: string, event: EventRecord) => boolean } {
  const asked: Array<{ filter: string; event: EventRecord }> = [];
  return {
    asked,
    matchesFilter: (filter, event) => {
      asked.push({ filter, event });
      const keys = accepted(filter);
      return keys.includes(event.type) || keys.includes(event.id);
    },
  };
}

/** The error a throwing callback throws: the caller must get this very object back. */
export class FilterEvaluationError extends Error {
  constructor() {
    super('the payload filter could not be evaluated');
    this.name = 'FilterEvaluationError';
  }
}
