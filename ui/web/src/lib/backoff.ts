// Reconnect delays: 250 ms doubling to at most 5 s, reset after a good connection.

export class Backoff {
  private attempt = 0;
  constructor(
    readonly initialMs = 250,
    readonly maxMs = 5000,
  ) {}

  /** The delay before the next attempt; each call doubles the following one. */
  next(): number {
    const d = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return d;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
