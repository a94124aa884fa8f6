/** Scenario 2: tasks completed per second by remote workers over the API (SDK, batch claims). */
import type { Scenario } from '../lib/harness';
import { drain } from '../lib/load';
import { bullmq, graphile, oursRemote } from '../lib/systems';

export const remote: Scenario = {
  id: '2',
  title: 'Throughput, remote workers',
  metrics: [{ key: 'drain', label: 'drain of pre-submitted tasks', unit: 'tasks/s', better: 'higher' }],
  sides: (ctx) =>
    [oursRemote(2), graphile(true), graphile(false), bullmq].map((system) => ({
      name: system.name,
      role: system.role,
      settings: system.settings,
      sample: async () => ({ drain: await drain(ctx, system, ctx.scale(20_000, 1_000)) }),
    })),
};
