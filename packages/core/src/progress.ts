/**
 * A dependency-free progress bar for long work (ingestion, epochs, evaluation). On a TTY it redraws one
 * line; otherwise (CI logs, pipes) it prints a line at most every `intervalMs` so logs stay readable.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  intervalMs?: number;
  /** Silences all output (tests, library use). */
  silent?: boolean;
}

export class ProgressBar {
  private done = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  private extra = '';
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private readonly interval: number;
  private finished = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.interval = opts.intervalMs ?? (this.stream.isTTY ? 100 : 10_000);
  }

  get completed(): number {
    return this.done;
  }

  /** Advances by `n` items; `info` is shown after the bar (e.g. "loss 0.53 lr 1e-4"). */
  tick(n = 1, info?: string): void {
    this.done += n;
    if (info !== undefined) this.extra = info;
    const now = Date.now();
    if (now - this.lastDraw >= this.interval || this.done >= this.opts.total) {
      this.lastDraw = now;
      this.draw();
    }
  }

  finish(info?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (info !== undefined) this.extra = info;
    this.draw();
    if (!this.opts.silent && this.stream.isTTY) this.stream.write('\n');
  }

  /** Text of the current state (also what is drawn). */
  render(): string {
    const { total, label } = this.opts;
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const frac = total > 0 ? Math.min(1, this.done / total) : 0;
    const eta = rate > 0 ? (total - this.done) / rate : Number.NaN;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    return `${label} [${bar}] ${this.done}/${total} ${(frac * 100).toFixed(0)}% ${rate.toFixed(1)}/s elapsed ${formatSeconds(elapsed)} eta ${formatSeconds(eta)}${this.extra ? ` ${this.extra}` : ''}`;
  }

  private draw(): void {
    if (this.opts.silent) return;
    const line = this.render();
    if (this.stream.isTTY) this.stream.write(`\r${line.slice(0, (this.stream.columns ?? 200) - 1)}\x1b[K`);
    else this.stream.write(`${line}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  if (m >= 60) return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
  return `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}
