/**
 * Progress bars for the simulated runs, in plain ANSI on stderr (no dependency): one line per run,
 * redrawn in place on a terminal; on anything else (a pipe, CI, a test) one line per notable event.
 */
import { type Writable } from 'node:stream';

export interface ProgressRow {
  name: string;
  total: number;
  done: number;
  /** Short status after the bar, e.g. "step 250 · ⚠ warning at 100". */
  note: string;
}

export class ProgressBoard {
  private readonly rows: ProgressRow[];
  private drawn = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stream: Writable & { isTTY?: boolean; columns?: number },
    rows: { name: string; total: number }[],
    private readonly tty = Boolean(stream.isTTY),
  ) {
    this.rows = rows.map((r) => ({ ...r, done: 0, note: '' }));
    if (this.tty) this.render();
  }

  update(name: string, done: number, note?: string): void {
    const row = this.rows.find((r) => r.name === name);
    if (!row) return;
    row.done = done;
    if (note !== undefined) row.note = note;
    if (this.tty) this.schedule();
  }

  /** A line that stays (above the bars on a terminal). */
  event(line: string): void {
    if (!this.tty) {
      this.stream.write(`${line}\n`);
      return;
    }
    this.clear();
    this.stream.write(`${line}\n`);
    this.render();
  }

  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.tty) this.render();
  }

  /** Redraws at most every 100 ms: six runs updating at once must not flood the terminal. */
  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.render();
    }, 100);
  }

  private clear(): void {
    if (this.drawn > 0) this.stream.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private render(): void {
    this.clear();
    const nameWidth = Math.max(...this.rows.map((r) => r.name.length));
    const lines = this.rows.map((r) => formatRow(r, nameWidth, this.stream.columns ?? 100));
    this.stream.write(lines.join('\n') + '\n');
    this.drawn = lines.length;
  }
}

export function formatRow(row: ProgressRow, nameWidth: number, columns = 100, barWidth = 20): string {
  const filled = row.total > 0 ? Math.round((barWidth * row.done) / row.total) : 0;
  const bar = '█'.repeat(filled) + '░'.repeat(barWidth - filled);
  const line = `${row.name.padEnd(nameWidth)}  ${bar}  ${String(row.done).padStart(2)}/${row.total}  ${row.note}`;
  // Never wrap: a wrapped line breaks the cursor arithmetic of the redraw.
  return line.length > columns - 1 ? line.slice(0, columns - 1) : line;
}
