/**
 * `maestro`: the command line of Maestro Conductor. `bin/maestro.js` runs it (from the sources in
 * a clone, compiled in the image). Every command talks to a running conductor over its GraphQL
 * API (`--url`, `--api-key`); `--output json` prints JSON for scripts; errors are one line.
 */
import { Command, CommanderError, Option } from 'commander';
import { main as workerMain } from '../../worker-sdk/cli';
import { apikeyCommands } from './apikey.commands';
import { CliError, DEFAULT_URL, endpointOf, EXIT, EXIT_CODES_HELP } from './api';
import { Output, OUTPUT_FORMATS, type OutputFormat } from './output';
import { runCommands } from './run.commands';
import { workflowCommands } from './workflow.commands';

export function buildProgram(): Command {
  const program = new Command('maestro')
    .description('Maestro Conductor from the command line: workflows, runs, workers and API keys')
    .addOption(new Option('--url <url>', "the conductor's GraphQL endpoint").env('MAESTRO_URL').default(DEFAULT_URL))
    .addOption(new Option('--api-key <key>', 'API key of the tenant (none needed in development mode)').env('MAESTRO_API_KEY'))
    .addOption(new Option('-o, --output <format>', 'text for people, json for scripts').choices(OUTPUT_FORMATS).default('text'))
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText(
      'after',
      `\nExamples:\n  maestro workflow apply -f examples/hello.yaml\n  maestro run start hello --input '{"name":"Ada"}' --watch\n  maestro run watch <run id>\n\n${EXIT_CODES_HELP}`,
    );
  program.addCommand(workflowCommands());
  program.addCommand(runCommands());
  program.addCommand(workerCommand());
  program.addCommand(apikeyCommands());
  // Every subcommand reports usage errors through the same path (exit 2, one line).
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ outputError: (text, write) => write(`maestro: USAGE: ${text.replace(/^error: /, '')}`) });
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

/** The remote worker (src/worker-sdk/cli.ts, also `npm run worker`): its flags are its own. */
function workerCommand(): Command {
  return new Command('worker')
    .description('run a remote worker: claim the tasks of a queue and execute them with a handler module')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[options...]', 'the worker flags: maestro worker --help lists them')
    .action(async (_args: string[], _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ url: string; apiKey?: string }>();
      const parent = cmd.parent!;
      // What follows "worker" on the command line, and the global --url / --api-key given before it.
      const argv = process.argv.slice(process.argv.indexOf('worker') + 1);
      const forwarded: string[] = [];
      // The endpoint as every maestro command reads it (a bare origin gets /graphql).
      if (!argv.includes('--url')) forwarded.push('--url', endpointOf(g.url).href);
      if (parent.getOptionValueSource('apiKey') === 'cli' && !argv.includes('--api-key')) forwarded.push('--api-key', g.apiKey!);
      await workerMain([...forwarded, ...argv.filter((a, i) => !isGlobal(argv, i))]);
      // The worker runs until a signal; its own handlers exit the process.
      await new Promise(() => undefined);
    });
}

/** Global options given after `worker` were consumed by maestro; they are forwarded once. */
function isGlobal(argv: string[], i: number): boolean {
  const a = argv[i]!;
  return a === '-o' || a === '--output' || a.startsWith('--output=') || argv[i - 1] === '-o' || argv[i - 1] === '--output';
}

/** Runs the CLI; resolves with the exit code. */
export async function run(argv: readonly string[] = process.argv): Promise<number> {
  const program = buildProgram();
  const format: OutputFormat = argv.some((a, i) => a === '--output=json' || ((a === '-o' || a === '--output') && argv[i + 1] === 'json')) ? 'json' : 'text';
  const out = new Output(format);
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (e: unknown) {
    if (e instanceof CommanderError) {
      // --help and --version print and end well; commander already printed the usage error.
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (e instanceof CliError) {
      out.error(e);
      return e.exitCode;
    }
    out.error(new CliError('INTERNAL', e instanceof Error ? e.message : String(e), 1));
    return 1;
  }
}

if (require.main === module) {
  void run().then((code) => process.exit(code));
}
