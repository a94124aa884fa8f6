import { asConductorError, ConductorError, ConductorUnavailableError, LeaseLostError, RunCancelledError } from './errors';
import {
  ClaimTasksDocument,
  CompleteTaskDocument,
  CompleteTasksDocument,
  FailTaskDocument,
  ReleaseTaskDocument,
  RenewLeaseDocument,
  type CompleteTasksMutation,
  type TypedDocumentString,
} from './generated/operations';
import type { Json, TaskLease, TaskRef } from './types';

/** Most results one `completeTasks` takes. */
const MAX_BATCH = 100;

export interface ConductorClientOptions {
  /** The conductor's GraphQL endpoint, e.g. `http://localhost:4000/graphql`. */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>`. Without one, a development conductor acts as tenant "default". */
  apiKey?: string;
  /**
   * Bound of one request, long polls excepted (they get their `waitMs` on top).
   * @default 15000
   */
  requestTimeoutMs?: number;
  /** A fetch implementation (a proxy agent, or a spy in tests). @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Results finishing in the same tick go in one `completeTasks` request (up to 100): under load
   * one request per batch instead of one per task. A result alone goes as `completeTask`, with its
   * trace headers.
   * @default true
   */
  batchCompletions?: boolean;
}

interface PendingCompletion {
  ref: TaskRef;
  output: Json;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  resolve: (r: TaskResult) => void;
  reject: (e: unknown) => void;
}

/** Task status as the conductor reports it after a result. */
export interface TaskResult {
  id: string;
  status: string;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

/**
 * The worker protocol over GraphQL/HTTP (global fetch, no other dependency). Every method either
 * returns the conductor's answer or throws a {@link ConductorError}: `LeaseLostError` and
 * `RunCancelledError` for an attempt that no longer owns its task, `ConductorUnavailableError`
 * (retryable) when the conductor cannot be reached.
 */
export class ConductorClient {
  private readonly fetch: typeof fetch;
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: ConductorClientOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  }

  get url(): string {
    return this.options.url;
  }

  /** Claims up to `max` ready tasks; with `waitMs`, an empty claim waits for one to become ready. */
  async claimTasks(req: { queue: string; workerId: string; max: number; leaseMs?: number; waitMs?: number }, signal?: AbortSignal): Promise<TaskLease[]> {
    const data = await this.request(ClaimTasksDocument, req, { signal, extraTimeoutMs: req.waitMs ?? 0 });
    return data.claimTasks.map((l) => ({
      leaseToken: l.leaseToken,
      leaseExpiresAt: new Date(l.leaseExpiresAt),
      task: { ...l.task, input: l.task.input ?? null, traceparent: l.task.traceparent ?? null },
    }));
  }

  /** A heartbeat: extends the lease. `LeaseLostError` / `RunCancelledError` when the attempt no longer owns the task. */
  async renewLease(ref: TaskRef, leaseMs?: number, signal?: AbortSignal, timeoutMs?: number): Promise<{ leaseExpiresAt: Date }> {
    const data = await this.request(RenewLeaseDocument, { ...vars(ref), leaseMs }, { signal, ref, timeoutMs });
    return { leaseExpiresAt: new Date(data.renewLease.leaseExpiresAt) };
  }

  /** Records the attempt's result. Idempotent for the current token. */
  async completeTask(ref: TaskRef, output: Json, signal?: AbortSignal, headers?: Record<string, string>): Promise<TaskResult> {
    if (this.options.batchCompletions === false || this.batchUnsupported) return this.completeOne(ref, output, signal, headers);
    // An output that is not JSON spoils its batch's body; the batch then goes one by one
    // (`sendCompletions`), so only that result is refused.
    return new Promise<TaskResult>((resolve, reject) => {
      this.completions.push({ ref, output, signal, headers, resolve, reject });
      if (this.completions.length === 1) setImmediate(() => this.flushCompletions());
    });
  }

  private readonly completions: PendingCompletion[] = [];
  /** An older conductor without `completeTasks`: results go one by one. */
  private batchUnsupported = false;

  private completeOne(ref: TaskRef, output: Json, signal?: AbortSignal, headers?: Record<string, string>): Promise<TaskResult> {
    return this.request(CompleteTaskDocument, { ...vars(ref), output }, { signal, ref, headers }).then((d) => d.completeTask);
  }

  private flushCompletions(): void {
    const live = this.completions.splice(0).filter((c) => {
      if (c.signal?.aborted) c.reject(c.signal.reason);
      return !c.signal?.aborted;
    });
    for (let i = 0; i < live.length; i += MAX_BATCH) void this.sendCompletions(live.slice(i, i + MAX_BATCH));
  }

  private async sendCompletions(batch: PendingCompletion[]): Promise<void> {
    const one = (c: PendingCompletion) => this.completeOne(c.ref, c.output, c.signal, c.headers).then(c.resolve, c.reject);
    if (batch.length === 1 || this.batchUnsupported) {
      await Promise.all(batch.map(one));
      return;
    }
    let outcomes: CompleteTasksMutation['completeTasks'];
    try {
      const results = batch.map((c) => ({ ...vars(c.ref), output: c.output }));
      outcomes = (await this.request(CompleteTasksDocument, { results }, {})).completeTasks;
    } catch (e: unknown) {
      const err = asConductorError(e);
      if (err.code === 'GRAPHQL_VALIDATION_FAILED') this.batchUnsupported = true;
      // Unreachable: every attempt retries on its own schedule. Refused as a whole (an old
      // conductor, a value one result carries): each goes alone, so only its own can fail.
      if (err.retryable) for (const c of batch) c.reject(err);
      else await Promise.all(batch.map(one));
      return;
    }
    batch.forEach((c, i) => {
      const o = outcomes[i];
      if (o?.task) c.resolve(o.task);
      else c.reject(toConductorError({ message: o?.error?.message ?? 'no outcome', extensions: { code: o?.error?.code ?? 'BAD_RESPONSE' } }, c.ref));
    });
  }

  /** Records a failed attempt; the step's retry policy applies unless `retryable` is false. */
  async failTask(ref: TaskRef, error: string, retryable: boolean, signal?: AbortSignal, headers?: Record<string, string>): Promise<TaskResult> {
    return (await this.request(FailTaskDocument, { ...vars(ref), error, retryable }, { signal, ref, headers })).failTask;
  }

  /** Gives the task back unfinished (draining): queued again, the attempt not counted. */
  async releaseTask(ref: TaskRef, signal?: AbortSignal, timeoutMs?: number): Promise<TaskResult> {
    return (await this.request(ReleaseTaskDocument, vars(ref), { signal, ref, timeoutMs })).releaseTask;
  }

  /** One operation: its variables and result are typed by the document (generated from schema.graphql). */
  private async request<T, V>(
    document: TypedDocumentString<T, V>,
    variables: V,
    opts: { signal?: AbortSignal; extraTimeoutMs?: number; timeoutMs?: number; ref?: TaskRef; headers?: Record<string, string> },
  ): Promise<T> {
    const query = document.toString();
    const operationName = operationNameOf(query);
    const timeoutMs = (opts.timeoutMs ?? this.requestTimeoutMs) + (opts.extraTimeoutMs ?? 0);
    let body: string;
    try {
      body = JSON.stringify({ operationName, query, variables });
    } catch (e: unknown) {
      // A circular or BigInt output: a bug in the handler, not something a retry fixes.
      throw new ConductorError('BAD_USER_INPUT', `The ${operationName} variables are not JSON: ${(e as Error).message}`, { cause: e });
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
          ...opts.headers,
        },
        body,
        signal,
      });
      text = await res.text();
    } catch (e: unknown) {
      // The caller's own abort (stopping) propagates as is; anything else is the conductor being unreachable.
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (timeout.aborted) {
        throw new ConductorUnavailableError(`${operationName}: no answer from ${this.options.url} within ${timeoutMs} ms`, {
          code: 'TIMEOUT',
          cause: e,
        });
      }
      throw new ConductorUnavailableError(`${operationName}: cannot reach ${this.options.url}: ${describeNetworkError(e)}`, { cause: e });
    }

    let parsed: GraphQLResponse<T> | undefined;
    try {
      const json: unknown = JSON.parse(text);
      if (json && typeof json === 'object' && ('data' in json || 'errors' in json)) parsed = json as GraphQLResponse<T>;
    } catch {
      parsed = undefined;
    }
    // The conductor itself says it cannot serve now (its database is down): typed, retryable.
    const unavailable = parsed?.errors?.find((e) => e.extensions?.['code'] === 'UNAVAILABLE');
    if (unavailable) throw toConductorError(unavailable, opts.ref, res.status);
    // 502/503/504: a proxy whose upstream is down, or a draining conductor; 429: overloaded.
    if (res.status >= 502 || res.status === 429 || (!parsed && res.status >= 500)) {
      throw new ConductorUnavailableError(`${operationName}: the conductor answered HTTP ${res.status}`, { status: res.status });
    }
    if (!parsed) {
      throw new ConductorError(
        'BAD_RESPONSE',
        `${operationName}: the answer (HTTP ${res.status}) from ${this.options.url} is not GraphQL: ${text.slice(0, 200)}`,
        {
          data: { status: res.status },
        },
      );
    }
    const error = parsed.errors?.[0];
    if (error) throw toConductorError(error, opts.ref);
    if (!parsed.data) throw new ConductorUnavailableError(`${operationName}: the answer (HTTP ${res.status}) has no data`, { status: res.status });
    return parsed.data;
  }
}

/** The name of a document's (one) operation: conductor logs and traces show it. */
function operationNameOf(query: string): string {
  return /\b(?:query|mutation|subscription)\s+(\w+)/.exec(query)?.[1] ?? 'anonymous';
}

function vars(ref: TaskRef): { taskId: string; leaseToken: string } {
  return { taskId: ref.taskId, leaseToken: ref.leaseToken };
}

function toConductorError(error: { message: string; extensions?: Record<string, unknown> }, ref: TaskRef | undefined, status?: number): ConductorError {
  const { code: rawCode, ...data } = error.extensions ?? {};
  const code = typeof rawCode === 'string' ? rawCode : 'INTERNAL_SERVER_ERROR';
  switch (code) {
    case 'UNAVAILABLE':
      return new ConductorUnavailableError(error.message, {
        status,
        retryAfterMs: typeof data['retryAfterMs'] === 'number' ? data['retryAfterMs'] : undefined,
      });
    case 'LEASE_LOST':
      return new LeaseLostError(ref?.taskId ?? String(data['taskId'] ?? ''), ref?.leaseToken ?? String(data['token'] ?? ''), error.message);
    case 'RUN_CANCELLED':
      return new RunCancelledError(ref?.taskId ?? String(data['taskId'] ?? ''), typeof data['runId'] === 'string' ? data['runId'] : undefined, error.message);
    default:
      // An internal error is often a conductor losing its database mid-restart: worth another try;
      // RATE_LIMITED (a request rate, or the tenant's long polls) passes with time.
      return new ConductorError(code, error.message, { data, retryable: code === 'INTERNAL_SERVER_ERROR' || code === 'RATE_LIMITED' });
  }
}

/** `fetch failed` says nothing; its cause says ECONNREFUSED, ECONNRESET, ENOTFOUND… */
function describeNetworkError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}
