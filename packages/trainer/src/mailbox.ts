import { HierError } from '@hier-ts/core';

export type Message = Record<string, unknown> & { type: string };

/**
 * Messages from one peer, awaited by type. A failure (peer died, timeout) rejects every pending and future wait,
 * which is what turns a dead replica into an error rather than a hang.
 */
export class Mailbox {
  private queue: Message[] = [];
  private waiters: { types: string[]; resolve: (m: Message) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout }[] = [];
  private failure: Error | null = null;

  constructor(
    private readonly who: string,
    private readonly timeoutMs: number,
  ) {}

  push(m: Message): void {
    if (m.type === 'error') {
      const err = new HierError(String(m.code ?? 'E_REPLICA'), `${this.who}: ${String(m.message)}`);
      this.fail(err);
      return;
    }
    const i = this.waiters.findIndex((w) => w.types.includes(m.type));
    if (i >= 0) {
      const w = this.waiters.splice(i, 1)[0]!;
      if (w.timer) clearTimeout(w.timer);
      w.resolve(m);
    } else this.queue.push(m);
  }

  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(err);
    }
  }

  get failed(): Error | null {
    return this.failure;
  }

  next(...types: string[]): Promise<Message> {
    return this.within(this.timeoutMs, ...types);
  }

  /** `next` with its own timeout (e.g. a longer one for start-up, which loads wasm and builds the model). */
  within(timeoutMs: number, ...types: string[]): Promise<Message> {
    const i = this.queue.findIndex((m) => types.includes(m.type));
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const w: (typeof this.waiters)[number] = { types, resolve, reject };
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        w.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          const err = new HierError('E_REPLICA', `${this.who}: no '${types.join("' or '")}' message within ${timeoutMs} ms`);
          this.fail(err);
          reject(err);
        }, timeoutMs);
      }
      this.waiters.push(w);
    });
  }
}
