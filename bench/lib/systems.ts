/**
 * Every side as one shape, so a scenario is written once: open a system on fresh storage,
 * optionally preload work before processing starts, submit items one by one, and learn when
 * each was picked up (a worker holds it) and finished.
 *
 * "Finished" is our run committed as SUCCEEDED; for a peer, its handler returned (its completion
 * may commit a little later, so the comparison leans towards the peers).
 */
import type { Job } from 'bullmq';
import { Worker as SdkWorker } from '../../src/worker-sdk';
import type { BenchContext, Side } from './harness';
import { maestroSettings, startMaestro, type Maestro } from './maestro';
import { pool } from './stats';
import { bullmqSettings, startBullmq } from '../peers/bullmq';
import { graphileSettings, startGraphile } from '../peers/graphile';

/** One step, or a linear chain of ten (scenario 4). */
export type Shape = 'single' | 'chain10';

export interface Submitted {
  /** When the submit call returned: its commit is done. */
  at: number;
  /** When a worker (built-in or remote) held it. */
  picked: Promise<number>;
  /** When the whole item (all its steps) finished. */
  finished: Promise<number>;
}

export interface Running {
  /** Adds `n` items before processing starts, as fast as the system's bulk path allows. */
  preload(n: number): Promise<void>;
  /** Starts processing. */
  go(): Promise<void>;
  /** Resolves when `n` items have finished since open. */
  finishedCount(n: number): Promise<void>;
  submit(): Promise<Submitted>;
  close(): Promise<void>;
}

export interface System {
  name: string;
  role: Side['role'];
  settings: Record<string, unknown>;
  shapes: Shape[];
  open(ctx: BenchContext, shape: Shape): Promise<Running>;
}

export const CONCURRENCY = 64;
const CHAIN = 10;

/** Matches pick-up and finish events to submitted items, whichever comes first. */
class Tracker {
  private readonly slots = new Map<string, { picked?: number; finished?: number; onPicked?: (t: number) => void; onFinished?: (t: number) => void }>();
  private done = 0;
  private waiters: { n: number; resolve: () => void }[] = [];

  picked(id: string, t = performance.now()): void {
    const s = this.slot(id);
    if (s.picked !== undefined) return;
    s.picked = t;
    s.onPicked?.(t);
  }

  finished(id: string, t = performance.now()): void {
    const s = this.slot(id);
    if (s.finished !== undefined) return;
    s.finished = t;
    s.onFinished?.(t);
    this.done++;
    this.waiters = this.waiters.filter((w) => (this.done >= w.n ? (w.resolve(), false) : true));
    // Forget settled items that were watched; unwatched (preloaded) ones are small.
    if (s.onFinished) this.slots.delete(id);
  }

  watch(id: string, at: number): Submitted {
    const s = this.slot(id);
    const picked = new Promise<number>((resolve) => (s.picked !== undefined ? resolve(s.picked) : (s.onPicked = resolve)));
    const finished = new Promise<number>((resolve) => {
      if (s.finished !== undefined) {
        this.slots.delete(id);
        resolve(s.finished);
      } else s.onFinished = resolve;
    });
    return { at, picked, finished };
  }

  count(n: number): Promise<void> {
    return this.done >= n ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  private slot(id: string) {
    let s = this.slots.get(id);
    if (!s) this.slots.set(id, (s = {}));
    return s;
  }
}

async function preloadOurs(m: Maestro, workflow: string, n: number): Promise<void> {
  // Through the same service call as the API, 32 at a time (the submit path is not measured).
  await pool(Array.from({ length: n }), 32, () => m.start(workflow));
}

function chainSteps(type: string, queue: string | null) {
  return Array.from({ length: CHAIN }, (_, i) => ({ key: `s${i + 1}`, type, queue, dependsOn: i ? [`s${i}`] : [] }));
}

/** Our conductor with its built-in executor (a `noop` step). */
export const oursBuiltIn: System = {
  name: 'maestro (built-in)',
  role: 'ours',
  settings: maestroSettings(),
  shapes: ['single', 'chain10'],
  async open(ctx, shape) {
    const m = await startMaestro(ctx, { paused: true });
    const tracker = new Tracker();
    const workflow = shape === 'single' ? 'bench-noop' : 'bench-chain';
    await m.register({ name: workflow, steps: shape === 'single' ? [{ key: 'a', type: 'noop' }] : chainSteps('noop', null) });
    m.app.hooks.on('task:claimed', (e) => tracker.picked(e.runId));
    m.app.hooks.on('run:finished', (e) => tracker.finished(e.runId));
    return {
      preload: (n) => preloadOurs(m, workflow, n),
      go: async () => m.app.scheduler.start(),
      finishedCount: (n) => tracker.count(n),
      async submit() {
        const id = await m.start(workflow);
        return tracker.watch(id, performance.now());
      },
      close: () => m.close(),
    };
  },
};

/** Our conductor with remote SDK workers over the GraphQL worker protocol (batch claims, long polls). */
export function oursRemote(workers = 2): System {
  return {
    name: `maestro (${workers} SDK worker${workers > 1 ? 's' : ''})`,
    role: 'ours',
    settings: { ...maestroSettings(), sdkWorkers: workers, workerConcurrency: CONCURRENCY, claimBatch: `free slots, ≤ 100`, pollWaitMs: 20000 },
    shapes: ['single'],
    async open(ctx) {
      const m = await startMaestro(ctx);
      const tracker = new Tracker();
      await m.register({ name: 'bench-remote', steps: [{ key: 'a', type: 'echo', queue: 'bench' }] });
      m.app.hooks.on('run:finished', (e) => tracker.finished(e.runId));
      const sdk: SdkWorker[] = [];
      return {
        preload: (n) => preloadOurs(m, 'bench-remote', n),
        async go() {
          for (let i = 0; i < workers; i++) {
            const w = new SdkWorker({
              url: m.app.url,
              queue: 'bench',
              concurrency: CONCURRENCY,
              handler: (t) => {
                tracker.picked(t.runId);
                return t.input;
              },
            });
            w.start();
            sdk.push(w);
          }
        },
        finishedCount: (n) => tracker.count(n),
        async submit() {
          const id = await m.start('bench-remote');
          return tracker.watch(id, performance.now());
        },
        async close() {
          await Promise.all(sdk.map((w) => w.stop({ graceMs: 1000 })));
          await m.close();
        },
      };
    },
  };
}

export function graphile(batched: boolean): System {
  return {
    name: `graphile-worker ${batched ? 'batched' : 'unbatched'}`,
    role: 'peer',
    settings: graphileSettings({ batched, concurrency: CONCURRENCY }),
    shapes: ['single', 'chain10'],
    async open(ctx, shape) {
      const g = await startGraphile(ctx, { batched, concurrency: CONCURRENCY });
      const tracker = new Tracker();
      let seq = 0;
      return {
        async preload(n) {
          for (let i = 0; i < n; i += 1000) {
            await g.utils.addJobs(Array.from({ length: Math.min(1000, n - i) }, () => ({ identifier: 'noop', payload: { id: `p${seq++}`, step: 1 } })));
          }
        },
        async go() {
          await g.start({
            noop: (payload) => {
              const { id } = payload as { id: string };
              tracker.picked(id);
              tracker.finished(id);
            },
            // Each link adds the next, as a graphile user writes a pipeline.
            chain: async (payload, helpers) => {
              const { id, step } = payload as { id: string; step: number };
              if (step === 1) tracker.picked(id);
              if (step < CHAIN) await helpers.addJob('chain', { id, step: step + 1 });
              else tracker.finished(id);
            },
          });
        },
        finishedCount: (n) => tracker.count(n),
        async submit() {
          const id = `s${seq++}`;
          await g.utils.addJob(shape === 'single' ? 'noop' : 'chain', { id, step: 1 });
          return tracker.watch(id, performance.now());
        },
        close: () => g.close(),
      };
    },
  };
}

export const bullmq: System = {
  name: 'BullMQ',
  role: 'peer',
  settings: bullmqSettings(CONCURRENCY),
  shapes: ['single'],
  async open(ctx) {
    const b = await startBullmq(ctx, CONCURRENCY);
    const tracker = new Tracker();
    let seq = 0;
    return {
      async preload(n) {
        for (let i = 0; i < n; i += 1000) {
          await b.queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'noop', data: { id: `p${seq++}` } })));
        }
      },
      async go() {
        const worker = b.start(async (job: Job<{ id: string }>) => {
          tracker.picked(job.data.id);
        });
        worker.on('completed', (job: Job<{ id: string }>) => tracker.finished(job.data.id));
        await worker.waitUntilReady();
      },
      finishedCount: (n) => tracker.count(n),
      async submit() {
        const id = `s${seq++}`;
        await b.queue.add('noop', { id });
        return tracker.watch(id, performance.now());
      },
      close: () => b.close(),
    };
  },
};
