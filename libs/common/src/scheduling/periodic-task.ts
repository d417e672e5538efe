/**
 * A background pass run every `intervalMs` (the API's sweeper and activations retention): never two
 * passes at once (a tick that finds one in flight is skipped), a failed pass is reported and the next
 * tick retries, and `stop()` waits for the pass in flight so shutdown does not cut a transaction short.
 * The timer is unref'd: it never keeps a process alive on its own.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass now, unless one is in flight. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = this.pass()
      .catch(this.onError)
      .finally(() => (this.running = undefined));
    await this.running;
  }
}
