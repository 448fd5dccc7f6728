/**
 * A feed request refused for a reason of the feed's own (not an error of the library's
 * calls): the status and the `error` code to answer with. `onError` sees it like any
 * other failure; the response carries only its code (and, for a 4xx on the query, its
 * message and field).
 */
export class FeedRefusal extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FeedRefusal';
    this.status = status;
    this.code = code;
    this.field = options.field;
  }
}
