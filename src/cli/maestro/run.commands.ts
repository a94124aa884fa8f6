import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { CliError } from './api';
import { action } from './context';
import { parseJsonFlag, table } from './output';
import { watchRun } from './watch';
import { positiveInt } from './workflow.commands';

const RUN_FIELDS = 'id status error createdAt startedAt finishedAt pausedAt tags workflow { name version }';
const START = `mutation MaestroStartRun($workflow: String!, $version: Int, $input: JSON, $idempotencyKey: String, $tags: [String!]) {
  startRun(workflow: $workflow, version: $version, input: $input, idempotencyKey: $idempotencyKey, tags: $tags) { ${RUN_FIELDS} }
}`;
const LIST = `query MaestroRuns($filter: RunFilter, $first: Int, $after: String) {
  runs(filter: $filter, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { ${RUN_FIELDS} } }
}`;
const ACTIONS = {
  cancel: { field: 'cancelRun', about: 'cancel a PENDING, RUNNING or PAUSED run (and its child runs)' },
  retry: { field: 'retryRun', about: 'retry a FAILED or CANCELLED run from its failed and cancelled steps' },
  pause: { field: 'pauseRun', about: 'pause a run: no new tasks start until it is resumed' },
  resume: { field: 'resumeRun', about: 'resume a paused run' },
} as const;
const SIGNAL = `mutation MaestroSignal($id: ID!, $name: String!, $payload: JSON) { signalRun(id: $id, name: $name, payload: $payload) { ${RUN_FIELDS} } }`;
const STATUSES = ['PENDING', 'RUNNING', 'PAUSED', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

interface RunJson {
  id: string;
  status: string;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  pausedAt: string | null;
  tags: string[];
  workflow: { name: string; version: number };
}

function runText(r: RunJson): string {
  return `Run ${r.id} of ${r.workflow.name} v${r.workflow.version}: ${r.status}${r.error ? ` (${r.error})` : ''}`;
}

export function runCommands(): Command {
  const cmd = new Command('run').description('start, watch, list and steer runs');

  cmd
    .command('start')
    .description('start a run of a workflow (its latest version, or --version)')
    .argument('<workflow>', 'the workflow name')
    .option('--input <json>', 'the run\'s input as JSON, e.g. \'{"name":"Ada"}\'')
    .option('--input-file <path>', "the run's input from a JSON file")
    .addOption(new Option('--version <n>', 'this version instead of the latest').argParser(positiveInt('--version')))
    .option('--idempotency-key <key>', 'the same key returns the same run instead of starting another')
    .option('--tag <tag...>', 'labels to find the run by (repeatable)')
    .option('-w, --watch', 'watch the run to its end; the exit code tells how it ended')
    .action(
      action<[string], { input?: string; inputFile?: string; version?: number; idempotencyKey?: string; tag?: string[]; watch?: boolean }>(
        async ({ api, out }, opts, workflow) => {
          if (opts.input !== undefined && opts.inputFile !== undefined) throw new CliError('USAGE', 'give --input or --input-file, not both');
          let input: unknown = null;
          if (opts.input !== undefined) input = parseJsonFlag('--input', opts.input);
          if (opts.inputFile !== undefined) {
            let text: string;
            try {
              text = readFileSync(opts.inputFile, 'utf8');
            } catch (e: unknown) {
              throw new CliError('USAGE', `cannot read --input-file ${opts.inputFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
            }
            input = parseJsonFlag(`--input-file ${opts.inputFile}`, text);
          }
          const { startRun } = await out.progress(
            `Starting ${workflow}`,
            api.request<{ startRun: RunJson }>(START, {
              workflow,
              version: opts.version ?? null,
              input,
              idempotencyKey: opts.idempotencyKey ?? null,
              tags: opts.tag ?? null,
            }),
          );
          if (!opts.watch) {
            out.result(startRun, runText);
            return;
          }
          if (out.json) out.line({ run: startRun }, '');
          else out.note(runText(startRun));
          return watchRun(api, out, startRun.id);
        },
      ),
    );

  cmd
    .command('watch')
    .description('follow a run live to its end: each step with its state, attempt and duration')
    .argument('<id>', 'the run id')
    .addHelpText(
      'after',
      '\nOn a terminal the table is redrawn in place; piped, one line per change; --output json: one JSON event per line.\nExits 0 when the run SUCCEEDED, 1 when it FAILED, 6 when it was CANCELLED.',
    )
    .action(action<[string], object>(async ({ api, out }, _opts, id) => watchRun(api, out, id)));

  cmd
    .command('list')
    .description("list the tenant's runs, newest first")
    .option('--workflow <name>', 'only runs of this workflow')
    .addOption(new Option('--status <status...>', 'only runs in these states').choices(STATUSES))
    .option('--tag <tag...>', 'only runs with all these tags')
    .addOption(new Option('--limit <n>', 'at most this many runs').default(20).argParser(positiveInt('--limit')))
    .action(
      action<[], { workflow?: string; status?: string[]; tag?: string[]; limit: number }>(async ({ api, out }, opts) => {
        const filter = { workflow: opts.workflow ?? null, status: opts.status ?? null, tags: opts.tag ?? null };
        const runs: RunJson[] = [];
        let after: string | null = null;
        await out.progress(
          'Listing runs',
          (async () => {
            while (runs.length < opts.limit) {
              type Page = { runs: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: RunJson[] } };
              const page: Page = await api.request<Page>(LIST, { filter, first: Math.min(100, opts.limit - runs.length), after });
              runs.push(...page.runs.nodes);
              if (!page.runs.pageInfo.hasNextPage) break;
              after = page.runs.pageInfo.endCursor;
            }
          })(),
        );
        out.result(runs, (rs) =>
          table(
            ['ID', 'WORKFLOW', 'STATUS', 'CREATED', 'FINISHED'],
            rs.map((r) => [r.id, `${r.workflow.name} v${r.workflow.version}`, r.status, r.createdAt, r.finishedAt ?? '-']),
          ),
        );
      }),
    );

  for (const [name, a] of Object.entries(ACTIONS)) {
    cmd
      .command(name)
      .description(a.about)
      .argument('<id>', 'the run id')
      .action(
        action<[string], object>(async ({ api, out }, _opts, id) => {
          const data = await api.request<Record<string, RunJson>>(`mutation MaestroRunAction($id: ID!) { ${a.field}(id: $id) { ${RUN_FIELDS} } }`, { id });
          out.result(data[a.field]!, runText);
        }),
      );
  }

  cmd
    .command('signal')
    .description('send a signal to a run: the signal step waiting for this name takes the payload as its output')
    .argument('<id>', 'the run id')
    .argument('<name>', 'the signal name')
    .option('--payload <json>', 'any JSON (default null)')
    .action(
      action<[string, string], { payload?: string }>(async ({ api, out }, opts, id, name) => {
        const payload = opts.payload === undefined ? null : parseJsonFlag('--payload', opts.payload);
        const { signalRun } = await api.request<{ signalRun: RunJson }>(SIGNAL, { id, name, payload });
        out.result(signalRun, (r) => `Signal ${JSON.stringify(name)} sent. ${runText(r)}`);
      }),
    );
  return cmd;
}
