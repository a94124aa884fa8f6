/**
 * The CLI's way to the conductor: GraphQL over HTTP (global fetch) for queries and mutations,
 * graphql-ws for the run subscription. Every failure becomes a {@link CliError} with the
 * conductor's `extensions.code` and the exit code that code maps to.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * Exit codes of every command (documented in `maestro --help` and docs/cli.md).
 * `run watch` and `run start --watch` end with SUCCEEDED → 0, FAILED → 1, CANCELLED → 6.
 */
export const EXIT = {
  OK: 0,
  RUN_FAILED: 1,
  USAGE: 2,
  REFUSED: 3,
  AUTH: 4,
  UNREACHABLE: 5,
  RUN_CANCELLED: 6,
  INTERRUPTED: 130,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0    success (watch: the run SUCCEEDED)
  1    watch: the run FAILED
  2    bad usage or an invalid file (nothing was sent)
  3    the conductor refused the request (BAD_USER_INPUT, NOT_FOUND, CONFLICT…)
  4    no valid API key, or the key may not do this (UNAUTHENTICATED, FORBIDDEN)
  5    the conductor could not be reached
  6    watch: the run was CANCELLED
  130  interrupted (Ctrl-C)`;

/** A failure the CLI prints as one line: `code: message`, and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = exitCodeOf(code),
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function exitCodeOf(code: string): number {
  if (code === 'UNAUTHENTICATED' || code === 'FORBIDDEN') return EXIT.AUTH;
  if (code === 'UNAVAILABLE' || code === 'TIMEOUT') return EXIT.UNREACHABLE;
  if (code === 'USAGE' || code === 'INVALID_FILE') return EXIT.USAGE;
  return EXIT.REFUSED;
}

export const DEFAULT_URL = 'http://localhost:4000/graphql';

/** The GraphQL endpoint from `--url`: a bare origin (`http://host:4000`) gets `/graphql`. */
export function endpointOf(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError('USAGE', `--url (or MAESTRO_URL) must be an http:// or https:// URL (got ${JSON.stringify(raw)})`);
  }
  if (!['http:', 'https:'].includes(url.protocol)) {
    throw new CliError('USAGE', `--url (or MAESTRO_URL) must be an http:// or https:// URL (got ${JSON.stringify(raw)})`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/graphql';
  return url;
}

interface GraphQLErrorJson {
  message: string;
  extensions?: Record<string, unknown>;
}

export interface ApiOptions {
  url: string;
  apiKey?: string;
  /** Bound of one HTTP request. @default 30000 */
  timeoutMs?: number;
}

export class Api {
  readonly endpoint: URL;

  constructor(private readonly options: ApiOptions) {
    this.endpoint = endpointOf(options.url);
  }

  /** One query or mutation; the first GraphQL error is thrown as a CliError with its code. */
  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (e: unknown) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = (e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause?.code ?? cause?.message ?? (e as Error).message);
      throw new CliError('UNAVAILABLE', `cannot reach the conductor at ${this.endpoint.href}: ${why} (set --url or MAESTRO_URL)`);
    }
    let body: { data?: T | null; errors?: GraphQLErrorJson[] } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    if (!body || (!('data' in body) && !('errors' in body))) {
      throw new CliError(
        res.status >= 500 ? 'UNAVAILABLE' : 'BAD_RESPONSE',
        `${this.endpoint.href} answered HTTP ${res.status} without GraphQL (is --url the conductor's /graphql endpoint?)`,
      );
    }
    const error = body.errors?.[0];
    if (error) throw toCliError(error);
    if (!body.data) throw new CliError('BAD_RESPONSE', `${this.endpoint.href} answered HTTP ${res.status} without data`);
    return body.data;
  }

  /** A graphql-ws client for this endpoint (ws:// or wss://), authenticated like the HTTP requests. */
  subscriptions(): Client {
    const wsUrl = new URL(this.endpoint.href);
    wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    return createClient({
      url: wsUrl.href,
      webSocketImpl: WebSocket,
      connectionParams: this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {},
      // Reconnecting is the watcher's job: it resumes after the last sequence it saw.
      retryAttempts: 0,
      lazy: true,
    });
  }
}

export function toCliError(error: GraphQLErrorJson): CliError {
  const { code, http: _http, ...data } = error.extensions ?? {};
  const hint = code === 'UNAUTHENTICATED' ? ' (set --api-key or MAESTRO_API_KEY)' : '';
  return new CliError(typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR', error.message + hint, undefined, data);
}
