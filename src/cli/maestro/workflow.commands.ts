import { Command, Option } from 'commander';
import YAML from 'yaml';
import { CliError, EXIT } from './api';
import { action } from './context';
import { table } from './output';
import { diffDefinitions, draftOf, readWorkflowFile, validateLocally, WORKFLOW_FIELDS_QUERY, type RegisteredWorkflow } from './workflow-file';

const GET = `query MaestroWorkflow($name: String!, $version: Int) { workflow(name: $name, version: $version) { ${WORKFLOW_FIELDS_QUERY} } }`;
const REGISTER = `mutation MaestroRegisterWorkflow($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version createdAt steps { key } } }`;
const LIST = `query MaestroWorkflows($after: String) {
  workflows(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { name version description createdAt steps { key } } }
}`;

interface Listed {
  name: string;
  version: number;
  description: string | null;
  createdAt: string;
  steps: { key: string }[];
}

export function workflowCommands(): Command {
  const cmd = new Command('workflow').description('register workflows from files, list and show them');

  cmd
    .command('apply')
    .description('register the workflow in a YAML or JSON file (a changed definition becomes the next version)')
    .requiredOption('-f, --file <path>', 'the workflow file: YAML, or JSON (.json)')
    .option('--dry-run', 'validate and print the diff to the registered version; register nothing')
    .addHelpText(
      'after',
      "\nThe file holds what registerWorkflow(input:) takes: name, description, inputSchema, timeoutMs, steps.\nIt is validated here with the server's rules before anything is sent.",
    )
    .action(
      action<[], { file: string; dryRun?: boolean }>(async ({ api, out }, opts) => {
        const draft = readWorkflowFile(opts.file);
        const local = validateLocally(draft);
        const registered = (
          await out.progress(`Reading workflow ${draft.name}`, api.request<{ workflow: RegisteredWorkflow | null }>(GET, { name: draft.name }))
        ).workflow;
        const diff = diffDefinitions(draft.name, registered, local, opts.file);
        if (opts.dryRun) {
          const nextVersion = diff.changed ? (registered?.version ?? 0) + 1 : registered!.version;
          out.result(
            { name: draft.name, registeredVersion: registered?.version ?? null, changed: diff.changed, version: nextVersion, diff: diff.patch },
            (r) =>
              r.changed
                ? `${diff.patch.trimEnd()}\n\nWould register ${r.name} version ${r.version} (dry run: nothing registered).`
                : `${r.name} version ${r.registeredVersion} is identical: applying would change nothing.`,
          );
          return;
        }
        const { registerWorkflow: w } = await out.progress(
          `Registering ${draft.name}`,
          api.request<{ registerWorkflow: { id: string; name: string; version: number; createdAt: string; steps: { key: string }[] } }>(REGISTER, {
            input: draft,
          }),
        );
        out.result({ ...w, changed: diff.changed }, (r) =>
          r.changed ? `Registered ${r.name} version ${r.version} (${r.steps.length} steps).` : `${r.name} version ${r.version} unchanged.`,
        );
      }),
    );

  cmd
    .command('list')
    .description("list the tenant's workflows (latest version of each)")
    .action(
      action<[], object>(async ({ api, out }) => {
        const all: Listed[] = [];
        let after: string | null = null;
        await out.progress(
          'Listing workflows',
          (async () => {
            for (;;) {
              type Page = { workflows: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: Listed[] } };
              const page: Page = await api.request<Page>(LIST, { after });
              all.push(...page.workflows.nodes);
              if (!page.workflows.pageInfo.hasNextPage) break;
              after = page.workflows.pageInfo.endCursor;
            }
          })(),
        );
        out.result(all, (ws) =>
          table(
            ['NAME', 'VERSION', 'STEPS', 'REGISTERED', 'DESCRIPTION'],
            ws.map((w) => [w.name, String(w.version), String(w.steps.length), w.createdAt, w.description ?? '']),
          ),
        );
      }),
    );

  cmd
    .command('get')
    .description('show a workflow: its latest version, or the one given, as YAML ready to apply again')
    .argument('<name>', 'the workflow name')
    .addOption(new Option('--version <n>', 'this version instead of the latest').argParser(positiveInt('--version')))
    .action(
      action<[string], { version?: number }>(async ({ api, out }, opts, name) => {
        const { workflow } = await api.request<{ workflow: RegisteredWorkflow | null }>(GET, { name, version: opts.version ?? null });
        if (!workflow) {
          throw new CliError(
            'NOT_FOUND',
            `workflow ${JSON.stringify(name)}${opts.version ? ` version ${opts.version}` : ''} is not registered (see maestro workflow list)`,
            EXIT.REFUSED,
          );
        }
        out.result(workflow, (w) => `# ${w.name} version ${w.version}, registered ${w.createdAt}\n${YAML.stringify(draftOf(w)).trimEnd()}`);
      }),
    );
  return cmd;
}

/** A commander parser for a positive integer flag. */
export function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new CliError('USAGE', `${flag} must be a positive integer (got ${JSON.stringify(value)})`);
    }
    return n;
  };
}
