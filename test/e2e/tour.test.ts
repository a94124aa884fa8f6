import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startTestApp, waitForRun, type TestApp } from '../helpers/app';

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version steps { key type dependsOn } } }`;

describe('the README tour', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('registers a workflow, starts a run and watches it finish live over graphql-ws', async () => {
    const { registerWorkflow } = await t.ok(REGISTER, {
      input: {
        name: 'greet',
        steps: [
          { key: 'hello', type: 'noop', input: { message: 'Hello, {{ input.name }}!' } },
          { key: 'pause', type: 'sleep', dependsOn: ['hello'], input: { ms: 50 } },
          { key: 'shout', type: 'noop', dependsOn: ['pause'], input: { text: '{{ steps.hello.output.message }}' } },
        ],
      },
    });
    expect(registerWorkflow).toMatchObject({ name: 'greet', version: 1 });

    const { startRun } = await t.ok(`mutation { startRun(workflow: "greet", input: { name: "Ada" }) { id status } }`);
    const sub = collect<{ runUpdated: { seq: number; type: string; status: string; taskKey: string | null } }>(
      t.ws(),
      `subscription($id: ID!) { runUpdated(id: $id, afterSeq: 0) { seq type status taskKey } }`,
      { id: startRun.id },
      (items) => items.some((i) => i.runUpdated.type === 'RUN_STATUS' && i.runUpdated.status === 'SUCCEEDED'),
    );
    const events = (await sub.done).map((i) => i.runUpdated);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]).toMatchObject({ type: 'RUN_STATUS', status: 'PENDING' });

    const run = await waitForRun(t, startRun.id);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toEqual({ shout: { text: 'Hello, Ada!' } });
    expect(run.tasks.map((x: { key: string }) => x.key)).toEqual(['hello', 'pause', 'shout']);
  });
});
