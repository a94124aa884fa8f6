import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { signWebhook } from '../../src/domain/webhook-signature';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Exactly once beyond one request: an event refused halfway (a quota) is finished by sending it
 * again, without starting its first run twice (both modes); the same id racing on two replicas,
 * through publishEvent and a webhook at once, starts each run once (real Postgres: replicas need
 * a shared database).
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const PUBLISH = `mutation($name: String!, $payload: JSON, $id: String) {
  publishEvent(name: $name, payload: $payload, id: $id) { eventId duplicate runs { runId workflow } }
}`;
const RUNS_OF = `query($wf: String!) { runs(first: 100, filter: { workflow: $wf }) { totalCount nodes { id status } } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { id status } }`;
const CREATE_SECRET = `mutation { createWebhookSecret { secret } }`;

interface Receipt {
  eventId: string;
  duplicate: boolean;
  runs: { runId: string; workflow: string }[];
}

/** Two workflows on one event; their one step waits on a queue no worker polls, so each run stays RUNNING. */
async function registerPair(t: TestApp, event: string): Promise<void> {
  for (const name of ['pair-a', 'pair-b']) {
    await t.ok(REGISTER, { input: { name, steps: [{ key: 'w', type: 'work', queue: 'nobody' }], on: [{ event }] } });
  }
}

describe('an event refused halfway is finished by sending it again', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date('2026-11-30T06:00:00Z'));
  const runsOf = async (wf: string) => (await t.ok<{ runs: { totalCount: number; nodes: { id: string }[] } }>(RUNS_OF, { wf })).runs;

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { TENANT_MAX_ACTIVE_RUNS: '1' } });
    await registerPair(t, 'half.evt');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('starts the missing run on the retry and answers both', async () => {
    const refused = await t.gql(PUBLISH, { name: 'half.evt', payload: { n: 1 }, id: 'half-1' });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'TENANT_MAX_ACTIVE_RUNS' });
    const first = await runsOf('pair-a');
    expect(first.totalCount).toBe(1);
    expect((await runsOf('pair-b')).totalCount).toBe(0);

    // Room again: the first run cancelled, the quota's 1 s cache expired.
    await t.ok(CANCEL, { id: first.nodes[0]!.id });
    await clock.set(new Date(clock.now().getTime() + 1_001));
    const retried = (await t.ok<{ publishEvent: Receipt }>(PUBLISH, { name: 'half.evt', payload: { n: 1 }, id: 'half-1' })).publishEvent;
    expect(retried.duplicate).toBe(true);
    expect(retried.runs.map((r) => r.workflow)).toEqual(['pair-a', 'pair-b']);
    expect(retried.runs[0]!.runId).toBe(first.nodes[0]!.id);
    expect((await runsOf('pair-a')).totalCount).toBe(1);
    expect((await runsOf('pair-b')).totalCount).toBe(1);

    // Finished: a third time answers the same runs and starts nothing.
    const third = (await t.ok<{ publishEvent: Receipt }>(PUBLISH, { name: 'half.evt', payload: { n: 1 }, id: 'half-1' })).publishEvent;
    expect(third.runs).toEqual(retried.runs);
  });
});

describe.skipIf(!process.env['DATABASE_URL'])('the same event id racing on two replicas', () => {
  let a: TestApp;
  let b: TestApp;
  const clock = new ManualClock(new Date('2026-11-30T06:00:00Z'));

  beforeAll(async () => {
    a = await startTestApp({ clock });
    b = await startTestApp({ clock, replicaOf: a });
    await registerPair(a, 'race.evt');
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('starts each run once, whichever replica and door it arrives by', async () => {
    const secret = (await a.ok<{ createWebhookSecret: { secret: string } }>(CREATE_SECRET)).createWebhookSecret.secret;
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const id = `race-${round}`;
      const body = JSON.stringify({ round });
      const timestamp = String(Math.floor(clock.now().getTime() / 1000));
      const hook = (app: TestApp) =>
        fetch(`${app.app.url.replace(/\/graphql$/, '')}/hooks/default/race.evt`, {
          method: 'POST',
          headers: { 'x-maestro-timestamp': timestamp, 'x-maestro-event-id': id, 'x-maestro-signature': `v1=${signWebhook(secret, timestamp, id, body)}` },
          body,
        }).then(async (r) => {
          expect(r.status).toBe(200);
          return (await r.json()) as Receipt;
        });
      const publish = (app: TestApp) => app.ok<{ publishEvent: Receipt }>(PUBLISH, { name: 'race.evt', payload: { round }, id }).then((d) => d.publishEvent);
      const receipts = await Promise.all([publish(a), publish(b), hook(a), hook(b), publish(a), publish(b)]);
      expect(receipts.filter((r) => !r.duplicate)).toHaveLength(1);
      const runIds = new Set(receipts.map((r) => r.runs.map((x) => x.runId).join(',')));
      expect(runIds.size).toBe(1);
      expect(receipts[0]!.runs).toHaveLength(2);
    }
    const count = async (wf: string) => (await a.ok<{ runs: { totalCount: number } }>(RUNS_OF, { wf })).runs.totalCount;
    expect(await count('pair-a')).toBe(rounds);
    expect(await count('pair-b')).toBe(rounds);
  });
});
