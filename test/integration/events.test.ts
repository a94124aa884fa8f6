import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Event triggers through the API (both modes): matching with and without a filter, two workflows
 * matching one event, only the latest version's triggers, event id deduplication (sequential and
 * racing), filter errors at registration, payload limits, and the metrics.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id version on { event filter } } }`;
const PUBLISH = `mutation($name: String!, $payload: JSON, $id: String) {
  publishEvent(name: $name, payload: $payload, id: $id) {
    eventId name duplicate receivedAt
    runs { runId workflow version }
    refused { workflow version code message }
  }
}`;
const RUN = `query($id: ID!) { run(id: $id) { id workflow { name } input trigger { kind eventName eventId } } }`;
const RUNS_OF = `query($wf: String!) { runs(first: 100, filter: { workflow: $wf }) { totalCount } }`;

interface Receipt {
  eventId: string;
  name: string;
  duplicate: boolean;
  receivedAt: string;
  runs: { runId: string; workflow: string; version: number }[];
  refused: { workflow: string; version: number; code: string; message: string }[];
}

describe('events start runs of workflows that declare triggers', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date('2026-11-30T06:00:00Z'));
  const register = (name: string, on: unknown, extra: Record<string, unknown> = {}) =>
    t.gql(REGISTER, { input: { name, steps: [{ key: 'a', type: 'noop', input: { got: '{{ input }}' } }], on, ...extra } });
  const publish = async (name: string, payload?: unknown, id?: string) => (await t.ok<{ publishEvent: Receipt }>(PUBLISH, { name, payload, id })).publishEvent;
  const runCount = async (wf: string) => (await t.ok<{ runs: { totalCount: number } }>(RUNS_OF, { wf })).runs.totalCount;

  beforeAll(async () => {
    t = await startTestApp({ clock });
    for (const [name, on] of [
      ['ship-order', [{ event: 'order.created' }]],
      ['review-big-order', [{ event: 'order.created', filter: 'payload.amount > 100' }]],
      ['eur-orders', [{ event: 'order.created', filter: 'has(payload.currency) && payload.currency == "EUR"' }, { event: 'order.paid' }]],
    ] as const) {
      const res = await register(name, on);
      expect(res.errors).toBeUndefined();
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('starts the workflow without a filter, with the payload as input and trigger EVENT', async () => {
    const r = await publish('order.created', { amount: 5, id: 'o-1' }, 'evt-1');
    expect(r).toMatchObject({ eventId: 'evt-1', name: 'order.created', duplicate: false, refused: [] });
    expect(r.runs.map((x) => x.workflow)).toEqual(['ship-order']);
    const run = (await t.ok<{ run: any }>(RUN, { id: r.runs[0]!.runId })).run;
    expect(run).toMatchObject({
      workflow: { name: 'ship-order' },
      input: { amount: 5, id: 'o-1' },
      trigger: { kind: 'EVENT', eventName: 'order.created', eventId: 'evt-1' },
    });
  });

  it('starts every matching workflow: the filter decides, a missing key does not match', async () => {
    const big = await publish('order.created', { amount: 500 });
    expect(big.runs.map((x) => x.workflow)).toEqual(['review-big-order', 'ship-order']);
    // Assigned id: a UUID.
    expect(big.eventId).toMatch(/^[0-9a-f-]{36}$/);
    const eur = await publish('order.created', { amount: 500, currency: 'EUR' });
    expect(eur.runs.map((x) => x.workflow)).toEqual(['eur-orders', 'review-big-order', 'ship-order']);
    // `amount` missing: review-big-order's filter fails on it, which is no match (not an error).
    const noAmount = await publish('order.created', { currency: 'USD' });
    expect(noAmount.runs.map((x) => x.workflow)).toEqual(['ship-order']);
    // A second trigger of another name on the same workflow.
    expect((await publish('order.paid', {})).runs.map((x) => x.workflow)).toEqual(['eur-orders']);
    // No workflow listens: a receipt with no runs.
    expect((await publish('nobody.listens', { x: 1 })).runs).toEqual([]);
  });

  it('starts each workflow once even when several of its triggers match', async () => {
    expect((await register('twice', [{ event: 'dup.evt' }, { event: 'dup.evt', filter: 'true' }])).errors).toBeUndefined();
    const r = await publish('dup.evt', {});
    expect(r.runs.map((x) => x.workflow)).toEqual(['twice']);
  });

  it('answers the same id again as a duplicate with the first runs, starting nothing', async () => {
    const first = await publish('order.created', { amount: 700 }, 'evt-seq');
    const before = await runCount('ship-order');
    const again = await publish('order.created', { amount: 700 }, 'evt-seq');
    expect(again.duplicate).toBe(true);
    expect(again.runs).toEqual(first.runs);
    expect(again.receivedAt).toBe(first.receivedAt);
    expect(await runCount('ship-order')).toBe(before);
  });

  it('starts the runs once when the same id arrives several times at once', async () => {
    const before = await runCount('review-big-order');
    const receipts = await Promise.all(Array.from({ length: 6 }, () => publish('order.created', { amount: 900 }, 'evt-race')));
    expect(receipts.filter((r) => !r.duplicate)).toHaveLength(1);
    const ids = receipts.map((r) => r.runs.map((x) => x.runId).join(','));
    expect(new Set(ids).size).toBe(1);
    expect(receipts[0]!.runs).toHaveLength(2);
    expect(await runCount('review-big-order')).toBe(before + 1);
  });

  it('refuses an id reused for another payload or name', async () => {
    await publish('order.created', { amount: 1 }, 'evt-reuse');
    const res = await t.gql(PUBLISH, { name: 'order.created', payload: { amount: 2 }, id: 'evt-reuse' });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', reason: 'EVENT_ID_REUSED', differs: 'payload' });
    const other = await t.gql(PUBLISH, { name: 'order.paid', payload: { amount: 1 }, id: 'evt-reuse' });
    expect(other.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', reason: 'EVENT_ID_REUSED', differs: 'name' });
  });

  it('follows the latest version: a version without the trigger stops its events', async () => {
    expect((await register('moving', [{ event: 'move.evt' }])).errors).toBeUndefined();
    expect((await publish('move.evt', {})).runs.map((x) => `${x.workflow}@${x.version}`)).toEqual(['moving@1']);
    const v2 = await register('moving', null, { description: 'no trigger' });
    expect(v2.data).toMatchObject({ registerWorkflow: { version: 2, on: [] } });
    expect((await publish('move.evt', {})).runs).toEqual([]);
    const v3 = await register('moving', [{ event: 'move.evt', filter: 'payload.go' }]);
    expect(v3.data).toMatchObject({ registerWorkflow: { version: 3, on: [{ event: 'move.evt', filter: 'payload.go' }] } });
    expect((await publish('move.evt', { go: false })).runs).toEqual([]);
    expect((await publish('move.evt', { go: true })).runs.map((x) => `${x.workflow}@${x.version}`)).toEqual(['moving@3']);
  });

  it('reports a workflow whose input schema the payload does not fit, and starts the others', async () => {
    const res = await register('strict', [{ event: 'order.created' }], {
      inputSchema: { type: 'object', required: ['customer'] },
    });
    expect(res.errors).toBeUndefined();
    const r = await publish('order.created', { amount: 3 });
    expect(r.runs.map((x) => x.workflow)).toEqual(['ship-order']);
    expect(r.refused).toEqual([expect.objectContaining({ workflow: 'strict', code: 'BAD_USER_INPUT' })]);
  });

  it.each([
    [[{ event: 'x', filter: 'payload.amount >' }], 'INVALID_TRIGGER_FILTER', 'on[0].filter'],
    [[{ event: 'ok' }, { event: 'x', filter: 'payload.amount + 1' }], 'INVALID_TRIGGER_FILTER', 'on[1].filter'],
    [[{ event: 'x', filter: 'input.amount > 1' }], 'INVALID_TRIGGER_FILTER', 'on[0].filter'],
    [[{ event: '9bad name' }], 'INVALID_TRIGGER', 'on[0].event'],
    [Array.from({ length: 33 }, () => ({ event: 'many' })), 'TOO_MANY_TRIGGERS', 'on'],
  ])('refuses %j at registration (%s at %s)', async (on, reason, field) => {
    const res = await register('bad-triggers', on);
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason, field });
    expect(res.errors?.[0]?.message).toContain(field);
  });

  it('refuses bad names, ids and payloads with typed errors', async () => {
    const name = await t.gql(PUBLISH, { name: 'has space' });
    expect(name.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_EVENT_NAME' });
    const id = await t.gql(PUBLISH, { name: 'order.created', id: 'has space' });
    expect(id.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_EVENT_ID' });
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    const tooDeep = await t.gql(PUBLISH, { name: 'order.created', payload: deep });
    expect(tooDeep.errors?.[0]?.extensions?.code).toBe('LIMIT_EXCEEDED');
  });

  it('counts events and the runs they started', async () => {
    const text = await t.scrape();
    const value = (line: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(line + ' '))
          ?.split(' ')[1] ?? NaN,
      );
    expect(value('maestro_events_received_total{source="EVENT",duplicate="false"}')).toBeGreaterThanOrEqual(10);
    expect(value('maestro_events_received_total{source="EVENT",duplicate="true"}')).toBeGreaterThanOrEqual(6);
    expect(value('maestro_event_runs_started_total{source="EVENT"}')).toBeGreaterThanOrEqual(10);
  });

  it('refuses an event that would start more than 100 workflows, starting none', async () => {
    for (let i = 0; i <= 100; i++) {
      const res = await t.gql(REGISTER, {
        input: { name: `fan-${String(i).padStart(3, '0')}`, steps: [{ key: 'a', type: 'noop' }], on: [{ event: 'fan.evt', filter: 'payload.n >= ' + i }] },
      });
      expect(res.errors).toBeUndefined();
    }
    const refused = await t.gql(PUBLISH, { name: 'fan.evt', payload: { n: 100 }, id: 'fan-all' });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_RUNS_PER_EVENT', max: 100, actual: 101 });
    expect(await runCount('fan-000')).toBe(0);
    // Filters keep it within bounds: 100 of them match n = 99.
    expect((await publish('fan.evt', { n: 99 }, 'fan-100')).runs).toHaveLength(100);
  });

  it('forgets events after EVENT_RETENTION_MS: a pruned id starts runs again, a younger one stays a duplicate', async () => {
    const day = 24 * 60 * 60 * 1000;
    const t0 = clock.now().getTime();
    const old = await publish('order.created', { amount: 1 }, 'evt-old');
    expect(old.duplicate).toBe(false);
    // Each replica prunes every 10 minutes; 7 days (the default) minus 30 minutes later nothing is old enough.
    await clock.set(new Date(t0 + 7 * day - 30 * 60_000));
    expect((await publish('order.created', { amount: 1 }, 'evt-old')).duplicate).toBe(true);
    await publish('order.created', { amount: 1 }, 'evt-young');
    await clock.set(new Date(t0 + 7 * day + 11 * 60_000));
    const again = await publish('order.created', { amount: 1 }, 'evt-old');
    expect(again.duplicate).toBe(false);
    expect(again.runs[0]!.runId).not.toBe(old.runs[0]!.runId);
    expect((await publish('order.created', { amount: 1 }, 'evt-young')).duplicate).toBe(true);
  });
});
