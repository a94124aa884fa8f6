/**
 * `run watch`: a run's events over the `runUpdated` subscription, resumable by sequence number
 * (DESIGN.md, "Live updates can be resumed"): the first subscription replays the stored events
 * from the start, and after a dropped connection the next one asks only for those after the last
 * sequence seen, so nothing is missed or shown twice. Each step is shown with its state, attempt
 * and duration: redrawn in place on a terminal, one plain line per change when piped, one JSON
 * object per event with `--output json`.
 */
import type * as LogUpdate from 'log-update' with { 'resolution-mode': 'import' };
import { CliError, EXIT, type Api } from './api';
import type { Output } from './output';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createLogUpdate } = require('log-update') as typeof LogUpdate;

export interface RunEventJson {
  runId: string;
  seq: number;
  type: 'RUN_STATUS' | 'TASK_STATUS';
  status: string;
  workflow: string;
  taskId: string | null;
  taskKey: string | null;
  attempt: number | null;
  createdAt: string;
}

const SUBSCRIPTION = `subscription MaestroWatch($id: ID!, $afterSeq: Int) {
  runUpdated(id: $id, afterSeq: $afterSeq) { runId seq type status workflow taskId taskKey attempt createdAt }
}`;
const RUN = `query MaestroWatchRun($id: ID!) { run(id: $id) { id status workflow { name version steps { key } } } }`;

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const TASK_DONE = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED']);

interface StepView {
  /** The step key, and `#n` for the further tasks of a step (fan-out items, in order of appearance). */
  label: string;
  taskId: string | null;
  status: string;
  attempt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** The state of a run as its events tell it: one row per task, the workflow's steps first. */
export class RunView {
  status = 'PENDING';
  lastSeq = 0;
  readonly rows: StepView[] = [];
  private readonly byTask = new Map<string, StepView>();

  constructor(
    readonly runId: string,
    readonly workflow: string,
    stepKeys: readonly string[],
  ) {
    for (const key of stepKeys) this.rows.push({ label: key, taskId: null, status: 'PENDING', attempt: 0, startedAt: null, finishedAt: null });
  }

  /** Applies one event; false when it was seen already (a replay overlapping a live one). */
  apply(e: RunEventJson): boolean {
    if (e.seq <= this.lastSeq) return false;
    this.lastSeq = e.seq;
    const at = Date.parse(e.createdAt);
    if (e.type === 'RUN_STATUS') {
      this.status = e.status;
      return true;
    }
    const row = this.rowOf(e.taskId ?? '?', e.taskKey ?? e.taskId ?? '?');
    row.status = e.status;
    row.attempt = e.attempt ?? row.attempt;
    if (e.status === 'RUNNING') {
      row.startedAt = at;
      row.finishedAt = null;
    } else if (TASK_DONE.has(e.status)) {
      row.finishedAt = at;
    }
    return true;
  }

  private rowOf(taskId: string, key: string): StepView {
    let row = this.byTask.get(taskId);
    if (row) return row;
    row = this.rows.find((r) => r.label === key && r.taskId === null);
    if (!row) {
      const n = this.rows.filter((r) => r.label === key || r.label.startsWith(`${key} #`)).length;
      row = { label: n === 0 ? key : `${key} #${n}`, taskId, status: 'PENDING', attempt: 0, startedAt: null, finishedAt: null };
      // After the step's other rows, so a fan-out's items stay together.
      const last = this.rows.map((r) => r.label === key || r.label.startsWith(`${key} #`)).lastIndexOf(true);
      this.rows.splice(last === -1 ? this.rows.length : last + 1, 0, row);
    }
    row.taskId = taskId;
    this.byTask.set(taskId, row);
    return row;
  }

  get finished(): boolean {
    return TERMINAL.has(this.status);
  }

  /** The lines of a terminal frame. */
  frame(now: number): string {
    const rows = this.rows.map((s) => [s.label, s.status, s.attempt ? String(s.attempt) : '-', duration(s, now)]);
    const widths = [0, 1, 2].map((i) => Math.max(['STEP', 'STATE', 'ATTEMPT'][i]!.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ');
    return [`Run ${this.runId} (${this.workflow}): ${this.status}`, '', fmt(['STEP', 'STATE', 'ATTEMPT', 'DURATION']), ...rows.map(fmt)].join('\n');
  }
}

function duration(s: StepView, now: number): string {
  if (s.startedAt === null) return '-';
  const ms = (s.finishedAt ?? now) - s.startedAt;
  return ms < 1000 ? `${Math.max(0, ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** The exit code a finished run maps to. */
export function exitCodeOfRun(status: string): number {
  if (status === 'SUCCEEDED') return EXIT.OK;
  if (status === 'CANCELLED') return EXIT.RUN_CANCELLED;
  return EXIT.RUN_FAILED;
}

export interface WatchOptions {
  /** Reconnections after a dropped connection before giving up. @default 30 */
  maxReconnects?: number;
}

/** Watches a run to its end; resolves with the exit code of its final status. */
export async function watchRun(api: Api, out: Output, runId: string, options: WatchOptions = {}): Promise<number> {
  const { run } = await api.request<{ run: { id: string; status: string; workflow: { name: string; version: number; steps: { key: string }[] } } | null }>(
    RUN,
    {
      id: runId,
    },
  );
  if (!run) throw new CliError('NOT_FOUND', `run ${JSON.stringify(runId)} was not found (see maestro run list)`, EXIT.REFUSED);
  const view = new RunView(
    run.id,
    `${run.workflow.name} v${run.workflow.version}`,
    run.workflow.steps.map((s) => s.key),
  );
  // A terminal of unknown size (rows 0) cannot be redrawn in place: plain lines there too.
  const live = !out.json && Boolean(out.stdout.isTTY) && (out.stdout.rows ?? 0) > 0;
  const draw = live ? createLogUpdate(out.stdout) : null;
  const ticker = draw ? setInterval(() => draw(view.frame(Date.now())), 250) : null;
  if (!live) out.note(`Watching run ${run.id} (${view.workflow})…`);
  const maxReconnects = options.maxReconnects ?? 30;
  let reconnects = 0;
  const client = api.subscriptions();
  try {
    while (!view.finished) {
      try {
        for await (const result of client.iterate<{ runUpdated: RunEventJson }>({ query: SUBSCRIPTION, variables: { id: runId, afterSeq: view.lastSeq } })) {
          if (result.errors?.length) {
            const { code, ...data } = result.errors[0]!.extensions ?? {};
            throw new CliError(typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR', result.errors[0]!.message, undefined, data);
          }
          const event = result.data?.runUpdated;
          if (!event || !view.apply(event)) continue;
          reconnects = 0;
          if (draw) draw(view.frame(Date.now()));
          else out.line(event, plainLine(event));
        }
        // The subscription completes after the run's terminal event.
        if (!view.finished) throw new CliError('UNAVAILABLE', 'the subscription ended before the run finished');
      } catch (e: unknown) {
        const err = asWatchError(e);
        if (err.exitCode !== EXIT.UNREACHABLE || ++reconnects > maxReconnects) throw err;
        // Resume after the last event seen: nothing missed, nothing twice.
        out.note(`connection lost (${err.message}); resuming after event ${view.lastSeq}`);
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** reconnects)));
      }
    }
  } finally {
    if (ticker) clearInterval(ticker);
    if (draw) {
      draw(view.frame(Date.now()));
      draw.done();
    }
    await client.dispose();
  }
  if (!out.json) out.stderr.write(`Run ${run.id} ${view.status}\n`);
  return exitCodeOfRun(view.status);
}

function plainLine(e: RunEventJson): string {
  const time = e.createdAt.slice(11, 23);
  if (e.type === 'RUN_STATUS') return `${time}  run   ${e.status}`;
  return `${time}  step  ${e.taskKey ?? e.taskId}  ${e.status}${e.attempt ? `  attempt ${e.attempt}` : ''}`;
}

/** A thrown value of the subscription as a CliError: a close event or socket error is UNAVAILABLE. */
function asWatchError(e: unknown): CliError {
  if (e instanceof CliError) return e;
  // graphql-ws rejects with the CloseEvent (code, reason) or an ErrorEvent/Error.
  const close = e as { code?: number; reason?: string; message?: string };
  if (typeof close.code === 'number') {
    if (close.code === 4403 || close.code === 4401) {
      return new CliError('UNAUTHENTICATED', `the conductor refused the subscription: ${close.reason || 'Forbidden'} (check --api-key or MAESTRO_API_KEY)`);
    }
    return new CliError('UNAVAILABLE', `the subscription closed (${close.code}${close.reason ? ` ${close.reason}` : ''})`);
  }
  if (Array.isArray(e) && e[0] && typeof e[0] === 'object' && 'message' in e[0]) {
    const { code, ...data } = (e[0] as { extensions?: Record<string, unknown> }).extensions ?? {};
    return new CliError(typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR', String((e[0] as { message: unknown }).message), undefined, data);
  }
  return new CliError('UNAVAILABLE', `cannot reach the conductor: ${close.message ?? String(e)}`);
}
