/**
 * The memory storage's orphan events — those no delivery is left of — keyed by (timestamp,
 * id): what retention removes once they are older than its cutoff, oldest first, without
 * walking the events that still have deliveries (as the SQL storages read their
 * events_published_at index).
 *
 * An event enters when it is stored without a delivery or loses its last one. Its entry goes
 * stale when it gets a delivery again (a replay) or is removed, and is dropped when it
 * surfaces; an event that is orphaned again while its stale entry waits makes that entry
 * live again (its key, the event's timestamp and id, never changes). So an event has at most
 * one entry (`orphanQueued`), and the queue at most one per stored event plus the removed
 * ones not yet dropped, which a compaction clears once they pass a margin.
 */
import { ClaimQueue } from './claim-queue.js';
import type { EventState } from './stored-records.js';

// Compacted once the queue holds more than twice the stored events plus this margin (a
// stored event has one entry at most: the excess are removed events' stale entries).
// Compacting is O(n), so it must not happen more often than every ~n removals.
const compactionSlack = 1024;

/** The orphan events of one memory storage, oldest first. */
export class OrphanEvents {
  private readonly pops = { pops: 0 };
  // Entries carry no stamp of their own (one entry per event): every stamp is 0.
  private readonly queue = new ClaimQueue<EventState>(this.pops);

  /** @param stored the storage's events by id: an entry whose event is not there is stale. */
  constructor(private readonly stored: ReadonlyMap<string, EventState>) {}

  /** Entries in the queue, stale ones included (for the storage's probe). */
  get size(): number {
    return this.queue.size;
  }

  /** Entries popped so far, live and stale (for the storage's probe). */
  get popCount(): number {
    return this.pops.pops;
  }

  /** Call when `ev` is stored without a delivery, or has just lost its last one. */
  add(ev: EventState): void {
    if (ev.orphanQueued) return;
    ev.orphanQueued = true;
    // Events are mostly stored, and orphaned, in time order: the run takes them in O(1).
    this.queue.push(ev.record.timestamp, ev.id, ev, 0, true);
    this.compactIfStale();
  }

  /**
   * Takes out up to `count` stored events without a delivery published before `before`,
   * oldest first by (timestamp, id). The caller removes them or gives them back with
   * {@link putBack}.
   */
  takeOldest(before: number, count: number): EventState[] {
    const queue = this.queue;
    const taken: EventState[] = [];
    while (taken.length < count && queue.size > 0 && queue.topKey() < before) {
      const ev = queue.topRef();
      queue.pop();
      ev.orphanQueued = false;
      if (this.isOrphan(ev)) taken.push(ev);
    }
    return taken;
  }

  /** Gives back events {@link takeOldest} took that stay stored. */
  putBack(evs: readonly EventState[]): void {
    for (const ev of evs) this.add(ev);
  }

  /**
   * Drops the stale entries once they outnumber the stored events by the margin: call after
   * removing events, whose entries would otherwise hold them (and their payloads) until they
   * surface.
   */
  compactIfStale(): void {
    if (this.queue.size <= 2 * this.stored.size + compactionSlack) return;
    this.queue.retain((ev) => {
      const live = this.isOrphan(ev);
      // A dropped entry is the event's only one.
      if (!live) ev.orphanQueued = false;
      return live;
    });
  }

  private isOrphan(ev: EventState): boolean {
    return ev.deliveries.length === 0 && this.stored.get(ev.id) === ev;
  }
}
