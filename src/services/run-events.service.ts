import type { RunEvent } from '../domain/model';
import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import type { EventBus } from '../events/event-bus';
import type { RunStatus } from '../domain/glossary';
import { isTerminalRun } from '../domain/run-machine';
import type { RunsService } from './runs.service';
import { readLane } from '../store/read-lane';

const RESYNC = Symbol('resync');

/** A run's terminal event: its last (the state machine appends nothing after it), so a run subscription completes after it. */
function endsRun(e: RunEvent): boolean {
  return e.type === 'run.status' && isTerminalRun(e.status as RunStatus);
}
const REPLAY_PAGE = 1_000;

/** Live events a slow subscriber may lag behind; past it the OLDEST are dropped, so the newest always arrives and reveals the gap, which is refetched. */
const LIVE_BUFFER = 1024;

/**
 * Live run events with resumption. The stored history is the truth; the bus only says "there
 * is more". A subscriber starts listening before it reads the history, so nothing falls between
 * the replay and the live stream, and skips what it has already yielded, so nothing repeats. A
 * gap in seq (a dropped or lost live message) is filled from the history.
 */
export class RunEventsService {
  constructor(private readonly deps: { bus: EventBus; runs: RunsService }) {}

  /**
   * One run's events after `afterSeq` (stored first, then live), completing after the run's
   * terminal event (at once when the caller has seen it already). Throws NotFound for another
   * tenant's run.
   */
  async subscribeRun(tenantId: string, requestedId: string, afterSeq: number): Promise<AsyncIterableIterator<RunEvent>> {
    // The stored id: live events carry it in canonical (lower) case, whatever case was asked.
    // Its reads are the tenant's (the read shares of the pool): type-graphql's middlewares, which
    // set the lane for queries, do not wrap a subscription's `subscribe`.
    const read = <T>(fn: () => Promise<T>): Promise<T> => readLane.run({ tenantId }, fn);
    const run = await read(() => this.deps.runs.getOrThrow(tenantId, requestedId));
    const runId = run.id;
    const live = this.live(tenantId, (e) => e.runId === runId);
    // A repeater starts listening on its first next(): start it now, before the history is read.
    const firstLive = live.next();
    const runs = this.deps.runs;
    let last = afterSeq;
    /** The newest event yielded: the stream ends after a terminal run event with nothing after it. */
    let newest: RunEvent | null = null;
    /** Everything stored after `last`, page by page (a long run has more than one page). */
    async function* catchUp(): AsyncGenerator<RunEvent> {
      for (;;) {
        const page = await read(() => runs.events(tenantId, runId, last, REPLAY_PAGE));
        for (const e of page) {
          last = e.seq;
          newest = e;
          yield e;
        }
        if (page.length < REPLAY_PAGE) return;
      }
    }
    async function* stream(): AsyncGenerator<RunEvent> {
      try {
        yield* catchUp();
        // A finished run: the replay ended on its terminal event, or the caller had seen it already.
        if (newest ? endsRun(newest) : isTerminalRun(run.status) && run.lastSeq <= last) return;
        let next = await firstLive;
        while (!next.done) {
          const e = next.value;
          if (e === RESYNC) {
            yield* catchUp();
            if (newest && endsRun(newest)) return;
            next = await live.next();
            continue;
          }
          if (e.seq > last + 1) {
            for (const missed of await read(() => runs.events(tenantId, runId, last, e.seq - last - 1))) {
              last = missed.seq;
              yield missed;
            }
          }
          if (e.seq > last) {
            last = e.seq;
            yield e;
            if (endsRun(e)) return;
          }
          next = await live.next();
        }
      } finally {
        await live.return();
      }
    }
    const gen = stream();
    // An async generator awaiting inside cannot be returned until it yields again: end the live
    // feed first, so a client that unsubscribes from an idle run is released at once.
    const iterator: AsyncIterableIterator<RunEvent> = {
      next: () => gen.next(),
      return: async (value?: unknown) => {
        await live.return();
        return gen.return(value as undefined);
      },
      throw: async (error?: unknown) => {
        await live.return();
        return gen.throw(error);
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Every event of the tenant's runs, optionally of one workflow, live only. */
  subscribeTenant(tenantId: string, workflow: string | null): AsyncIterableIterator<RunEvent> {
    return new Repeater<RunEvent>(async (push, stop) => {
      const unsubscribe = this.deps.bus.subscribe(tenantId, (e) => {
        if (workflow === null || e.workflowName === workflow) void push(e);
      });
      await stop;
      unsubscribe();
    }, new SlidingBuffer(LIVE_BUFFER));
  }

  /** A run's live events, plus a RESYNC marker whenever the bus may have lost some. */
  private live(tenantId: string, accept: (e: RunEvent) => boolean): Repeater<RunEvent | typeof RESYNC> {
    return new Repeater<RunEvent | typeof RESYNC>(async (push, stop) => {
      const unsubscribe = this.deps.bus.subscribe(tenantId, (e) => {
        if (accept(e)) void push(e);
      });
      const offResync = this.deps.bus.onResync(() => void push(RESYNC));
      await stop;
      unsubscribe();
      offResync();
    }, new SlidingBuffer(LIVE_BUFFER));
  }
}
