/**
 * What bench/suites/backlog.ts asks of a backlog trial (bench/backlog-process.ts, a child
 * process of its own) and what the trial answers.
 */
/** The size of a stored log: delivered deliveries (one event and one attempt each) and pending ones. */
export interface LogSize {
  delivered: number;
  pending: number;
}

export interface BacklogRequest extends LogSize {
  storage: string;
  /** Timed claims of 100. */
  claims: number;
  /** Timed calls of each other operation. */
  rounds: number;
  /** Timed retention batches, at most (no more than the smaller log has). */
  purgeBatches: number;
  /** A second, smaller log whose calls alternate with the first's. */
  reference?: LogSize;
}

/**
 * What is timed: `claim` a `claimDue` of 100; `stats` the storage's counts; `list` the
 * delivery log's first page of 100; `deep` a page of 100 after a cursor in the middle of the
 * delivered history; `undelivered` the first page of `undelivered()`; `purge` one batch of
 * `purgeRetention` (500 deliveries with their attempts and events).
 */
export const operationNames = ['claim', 'stats', 'list', 'deep', 'undelivered', 'purge'] as const;
export type OperationName = (typeof operationNames)[number];

/** One operation's timed calls: wall ms each, and how many items each returned or removed (rows, for the purge). */
export interface OperationTimes {
  ms: number[];
  items: number[];
  /** Whether each call did the whole of its work (a full page, a full batch, the counts of the fill). */
  complete: boolean[];
  /** With `reference`: the reference's calls, pair by pair with these. */
  reference: { ms: number[]; items: number[]; complete: boolean[] } | null;
}

/** The retention task's default batch. */
export const purgeBatch = 500;

export interface BacklogResult extends LogSize {
  type: 'result';
  storage: string;
  fillMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  heapUsedAfterBytes: number;
  storedBytes: number | null;
  operations: Record<OperationName, OperationTimes>;
}

