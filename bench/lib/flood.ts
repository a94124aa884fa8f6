/**
 * Tenant A's flood of bench scenario 7, in a process of its own: its clients (startRun loops,
 * heavy-read loops, their retries after 429s) get their own event loop, so tenant B's probes in
 * the bench process time the conductor, not the flooder's JSON parsing. (In one process, B's
 * start-to-finish included waiting behind A's clients on the same event loop.) It runs at the
 * lowest CPU priority, as if on a machine of its own.
 *
 * Run by `forkFlood`; protocol over IPC: the child sends `started` once every run is started, the
 * parent sends `stop`, the child answers `done` with what its requests got back and exits.
 */
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { nextMessage } from './ipc';
import { pool } from './stats';

/** What the flood's requests got back, by kind. */
export interface Answers {
  ok: number;
  rateLimited: number;
  refused: number;
  failed: number;
}

export interface FloodOptions {
  url: string;
  key: string;
  /** Runs of `workflow` to start, `starters` requests at a time. */
  workflow: string;
  runs: number;
  starters: number;
  /** Loops sending `query`, one request at a time each. */
  readers: number;
  query: string;
  /** Wait after a 429 (the flooder does not honour Retry-After); null honours it. */
  retryMs: number | null;
}

type FromFlood = { type: 'flooding' } | { type: 'started' } | { type: 'done'; runs: Answers; reads: Answers } | { type: 'error'; message: string };

export class Api {
  constructor(
    readonly url: string,
    private readonly key: string,
    /** Wait after a 429: null honours Retry-After. */
    private readonly retryMs: number | null = null,
  ) {}

  /** One POST; a 429 waits (Retry-After, or `retryMs`) and is counted, not thrown. */
  async post(
    query: string,
    variables: Record<string, unknown> = {},
    answers?: Answers,
  ): Promise<{ data?: any; errors?: { extensions?: { code?: string } }[] }> {
    for (;;) {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.key}` },
        body: JSON.stringify({ query, variables }),
      });
      const json = (await res.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] };
      if (res.status === 429 || json.errors?.[0]?.extensions?.code === 'RATE_LIMITED') {
        if (answers) answers.rateLimited++;
        const after = this.retryMs ?? Math.max(1, Number(res.headers.get('retry-after') ?? '1')) * 1000;
        await new Promise((r) => setTimeout(r, after));
        continue;
      }
      if (answers) {
        if (!json.errors) answers.ok++;
        else if (res.status >= 500) answers.failed++;
        else answers.refused++;
      }
      return json;
    }
  }

  async start(workflow: string, answers?: Answers): Promise<string> {
    const json = await this.post('mutation S($w: String!) { startRun(workflow: $w) { id } }', { w: workflow }, answers);
    const id = json.data?.startRun?.id as string | undefined;
    if (!id) throw new Error(`startRun ${workflow}: ${JSON.stringify(json.errors)}`);
    return id;
  }
}

/**
 * The flood in a child process: `flooding` resolves once its first answers are in (the child has
 * loaded and is sending), `started` once every run is started; `stop` ends the reads, `kill` the
 * child (on an error).
 */
export function forkFlood(opts: FloodOptions): {
  flooding: Promise<void>;
  started: Promise<void>;
  stop(): Promise<{ runs: Answers; reads: Answers }>;
  kill(): void;
} {
  const child = fork(__filename, [], {
    execArgv: ['-r', '@swc-node/register'],
    env: { ...process.env, BENCH_FLOOD: JSON.stringify(opts) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The lowest CPU priority: on the bench's two cores the flooder's own work (parsing 200 KB
  // answers, retrying 429s) would take CPU from the conductor under test, which a tenant's
  // clients on their own machines do not.
  if (child.pid !== undefined) setPriority(child.pid, 19);
  const next = <T extends FromFlood['type']>(type: T) => nextMessage<FromFlood, T>(child, 'flood', type);
  const flooding = next('flooding').then(() => undefined);
  const started = next('started').then(() => undefined);
  const done = next('done');
  // Whoever waits on `started` alone must not leave `done` unhandled if the child fails.
  done.catch(() => undefined);
  started.catch(() => undefined);
  flooding.catch(() => undefined);
  return {
    flooding,
    started,
    kill() {
      child.kill('SIGKILL');
    },
    async stop() {
      if (child.connected) child.send({ type: 'stop' });
      const { runs, reads } = await done;
      return { runs, reads };
    },
  };
}

async function runFlood(opts: FloodOptions): Promise<void> {
  const send = (m: FromFlood) => process.send?.(m);
  const api = new Api(opts.url, opts.key, opts.retryMs);
  const runs: Answers = { ok: 0, rateLimited: 0, refused: 0, failed: 0 };
  const reads: Answers = { ok: 0, rateLimited: 0, refused: 0, failed: 0 };
  let reading = true;
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stop') reading = false;
  });
  // The bench process went away: so does the flood.
  process.on('disconnect', () => process.exit(0));
  let answered = 0;
  const counted = <T>(p: Promise<T>): Promise<T> =>
    p.then((v) => {
      if (++answered === opts.starters + opts.readers) send({ type: 'flooding' });
      return v;
    });
  const readers = Promise.all(
    Array.from({ length: opts.readers }, async () => {
      while (reading) await counted(api.post(opts.query, {}, reads));
    }),
  );
  // A reader failing while the runs are still being started is reported below, not unhandled.
  readers.catch(() => undefined);
  try {
    await pool(
      Array.from({ length: opts.runs }, (_, i) => i),
      opts.starters,
      () => counted(api.start(opts.workflow, runs)),
    );
    send({ type: 'started' });
    await readers;
    send({ type: 'done', runs, reads });
  } catch (e: unknown) {
    reading = false;
    send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
  process.disconnect?.();
}

if (process.env['BENCH_FLOOD'] && require.main === module) {
  void runFlood(JSON.parse(process.env['BENCH_FLOOD']) as FloodOptions);
}
