import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { REAL_POSTGRES, REAL_REDIS } from '../helpers/db';

/**
 * A signal sent to one replica resumes a run whose signal step parked on the other: the wait is
 * a row in Postgres, not a timer or a slot of the replica that ran the step.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const SIGNAL = `mutation($id: ID!, $payload: JSON) { signalRun(id: $id, name: "approve", payload: $payload) { id status } }`;

describe.runIf(REAL_POSTGRES && REAL_REDIS)('signals across two replicas', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({ replicaOf: a });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('resumes runs parked on either replica from the other one', async () => {
    await a.ok(REGISTER, {
      input: {
        name: 'approval-x',
        steps: [
          { key: 'gate', type: 'signal', input: { name: 'approve' } },
          { key: 'after', type: 'noop', dependsOn: ['gate'], input: { by: '{{ steps.gate.output.by }}' } },
        ],
      },
    });
    const parkedOn = new Map<string, string>();
    const allParked = (n: number) =>
      new Promise<void>((resolve) => {
        for (const [name, t] of [
          ['a', a],
          ['b', b],
        ] as const) {
          t.app.hooks.on('signal:parked', (e) => {
            parkedOn.set(e.runId, name);
            if (parkedOn.size === n) resolve();
          });
        }
      });
    const N = 10;
    const parked = allParked(N);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push((await (i % 2 ? a : b).ok(`mutation { startRun(workflow: "approval-x") { id } }`)).startRun.id);
    await parked;
    const counts = [...parkedOn.values()].reduce<Record<string, number>>((acc, r) => ({ ...acc, [r]: (acc[r] ?? 0) + 1 }), {});
    console.log(`[signal-replicas] signal steps parked per replica: ${JSON.stringify(counts)}`);
    // Each run is signalled through the replica its step did NOT park on.
    for (const id of ids) {
      const other = parkedOn.get(id) === 'a' ? b : a;
      await other.ok(SIGNAL, { id, payload: { by: parkedOn.get(id) === 'a' ? 'b' : 'a' } });
    }
    for (const id of ids) {
      const done = await waitForRun(a, id);
      expect(done.status).toBe('SUCCEEDED');
      expect(done.output).toEqual({ after: { by: parkedOn.get(id) === 'a' ? 'b' : 'a' } });
    }
  });
});
