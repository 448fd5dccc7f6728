/**
 * The sending side of wake-ups for publishes outside a host transaction: a lone NOTIFY
 * after the publish committed (see the enqueue statement for why not inside it), one at a
 * time per adapter; publishes that commit while one is under way are covered by one more
 * after it.
 */
export class WakeNotifier {
  readonly #send: () => Promise<unknown>;
  readonly #stopped: () => boolean;
  #state: 'idle' | 'sending' | 'again' = 'idle';

  /**
   * @param send runs the NOTIFY.
   * @param stopped whether the adapter is closed (a pending repeat is then dropped).
   */
  constructor(send: () => Promise<unknown>, stopped: () => boolean) {
    this.#send = send;
    this.#stopped = stopped;
  }

  /**
   * Not awaited by `enqueue`: the publish is durable already, and a lost notification
   * only delays delivery until the next poll.
   */
  notifySoon(): void {
    if (this.#state !== 'idle') {
      this.#state = 'again';
      return;
    }
    this.#state = 'sending';
    void (async () => {
      for (;;) {
        try {
          await this.#send();
        } catch {
          // Polling is the backstop: a lost wake-up delays, never loses.
        }
        if (this.#state !== 'again' || this.#stopped()) break;
        this.#state = 'sending';
      }
      this.#state = 'idle';
    })();
  }
}
