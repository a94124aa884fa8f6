import type { RunEvent } from '../domain/model';
import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import type { EventBus } from '../events/event-bus';
import type { RunsService } from './runs.service';

const RESYNC = Symbol('resync');
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

  /** One run's events after `afterSeq` (stored first, then live). Throws NotFound for another tenant's run. */
  async subscribeRun(tenantId: string, requestedId: string, afterSeq: number): Promise<AsyncIterableIterator<RunEvent>> {
    // The stored id: live events carry it in canonical (lower) case, whatever case was asked.
    const runId = (await this.deps.runs.getOrThrow(tenantId, requestedId)).id;
    const live = this.live(tenantId, (e) => e.runId === runId);
    // A repeater starts listening on its first next(): start it now, before the history is read.
    const firstLive = live.next();
    const runs = this.deps.runs;
    let last = afterSeq;
    /** Everything stored after `last`, page by page (a long run has more than one page). */
    async function* catchUp(): AsyncGenerator<RunEvent> {
      for (;;) {
        const page = await runs.events(tenantId, runId, last, REPLAY_PAGE);
        for (const e of page) {
          last = e.seq;
          yield e;
        }
        if (page.length < REPLAY_PAGE) return;
      }
    }
    async function* stream(): AsyncGenerator<RunEvent> {
      try {
        yield* catchUp();
        let next = await firstLive;
        while (!next.done) {
          const e = next.value;
          if (e === RESYNC) {
            yield* catchUp();
            next = await live.next();
            continue;
          }
          if (e.seq > last + 1) {
            for (const missed of await runs.events(tenantId, runId, last, e.seq - last - 1)) {
              last = missed.seq;
              yield missed;
            }
          }
          if (e.seq > last) {
            last = e.seq;
            yield e;
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
