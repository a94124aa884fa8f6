/**
 * How commands print: text for people, `--output json` for scripts (one JSON document on stdout,
 * or one per line for streams). Errors go to stderr as one line; progress to stderr, only on a
 * terminal and only in text mode, so piped output stays clean.
 */
import type * as LogUpdate from 'log-update' with { 'resolution-mode': 'import' };
import { CliError } from './api';

// ESM only; Node ≥ 20.19 loads it through require(esm), as the domain loads cel-js.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createLogUpdate } = require('log-update') as typeof LogUpdate;

export type OutputFormat = 'text' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['text', 'json'];

/** What every command gets: where to write, in which format. Streams are injectable for tests. */
export class Output {
  constructor(
    readonly format: OutputFormat,
    readonly stdout: NodeJS.WriteStream = process.stdout,
    readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  get json(): boolean {
    return this.format === 'json';
  }

  /** The result of a command: `value` as JSON, or the text `text` makes of it. */
  result<T>(value: T, text: (value: T) => string): void {
    this.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : `${text(value)}\n`);
  }

  /** One item of a stream (NDJSON in json mode). */
  line(value: unknown, text: string): void {
    this.stdout.write(this.json ? `${JSON.stringify(value)}\n` : `${text}\n`);
  }

  /** A note for people (stderr), never mixed into json output. */
  note(text: string): void {
    if (!this.json) this.stderr.write(`${text}\n`);
  }

  error(e: CliError): void {
    this.stderr.write(
      this.json
        ? `${JSON.stringify({ error: { code: e.code, message: e.message, ...(Object.keys(e.data).length ? { data: e.data } : {}) } })}\n`
        : `maestro: ${e.code}: ${e.message}\n`,
    );
  }

  /** Shows a spinner with `label` on a terminal while `work` runs. */
  async progress<T>(label: string, work: Promise<T>): Promise<T> {
    if (this.json || !this.stderr.isTTY) return work;
    const draw = createLogUpdate(this.stderr);
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let i = 0;
    draw(`${frames[0]} ${label}`);
    const timer = setInterval(() => draw(`${frames[++i % frames.length]} ${label}`), 80);
    try {
      return await work;
    } finally {
      clearInterval(timer);
      draw.clear();
      draw.done();
    }
  }
}

/** A plain table: columns padded to their widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '(none)';
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}

/** A JSON value from a flag, or a usage error naming the flag. */
export function parseJsonFlag(flag: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e: unknown) {
    throw new CliError('USAGE', `${flag} is not JSON: ${(e as Error).message}`);
  }
}
