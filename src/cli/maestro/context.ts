import type { Command } from 'commander';
import { Api } from './api';
import { Output, type OutputFormat } from './output';

/** What every command action gets, from the global options (`--url`, `--api-key`, `--output`). */
export interface CommandContext {
  api: Api;
  out: Output;
}

export interface GlobalOptions {
  url: string;
  apiKey?: string;
  output: OutputFormat;
}

/**
 * Wraps a command action: commander passes the positional arguments, the command's options, then
 * the command; this hands the action its arguments, options and a context.
 */
export function action<A extends unknown[], O>(fn: (ctx: CommandContext, opts: O, ...args: A) => Promise<number | void>): (...raw: unknown[]) => Promise<void> {
  return async (...raw: unknown[]) => {
    const cmd = raw[raw.length - 1] as Command;
    const opts = raw[raw.length - 2] as O;
    const args = raw.slice(0, -2) as A;
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const out = new Output(g.output);
    const ctx: CommandContext = { out, api: new Api({ url: g.url, apiKey: g.apiKey || undefined }) };
    const code = await fn(ctx, opts, ...args);
    if (typeof code === 'number' && code !== 0) process.exitCode = code;
  };
}
