import type { Json } from '../domain/glossary';
import { isObject, TaskFailure, type Executor } from './executor';

/** Responses larger than this fail the attempt rather than bloat the run's state. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * `{ url, method?, headers?, body?, timeoutMs? }` → `{ status, headers, body }`, the body parsed
 * when it is JSON. A non-2xx status fails the attempt: 5xx, 408 and 429 may be retried, other
 * 4xx may not (the same request would fail the same way). A timeout may be retried.
 */
export function createHttpExecutor(opts: { defaultTimeoutMs: number }): Executor {
  return {
    type: 'http',
    async execute(ctx) {
      const input = ctx.input;
      if (!isObject(input)) throw new TaskFailure('http needs an object input: { "url": "https://…", "method": "GET" }', false);
      const url = input['url'];
      if (typeof url !== 'string' || !/^https?:\/\//i.test(url) || !URL.canParse(url)) {
        throw new TaskFailure(`http needs "url" to be an http(s) URL, got ${JSON.stringify(url ?? null)}`, false);
      }
      const method = typeof input['method'] === 'string' ? input['method'].toUpperCase() : 'GET';
      if (!METHODS.has(method)) throw new TaskFailure(`http "method" must be one of ${[...METHODS].join(', ')}`, false);
      const headers = new Headers();
      const rawHeaders = input['headers'] ?? {};
      if (!isObject(rawHeaders)) throw new TaskFailure('http "headers" must be an object of strings', false);
      for (const [k, v] of Object.entries(rawHeaders)) {
        if (typeof v !== 'string') throw new TaskFailure(`http header "${k}" must be a string`, false);
        headers.set(k, v);
      }
      let body: string | undefined;
      const rawBody = input['body'];
      if (rawBody !== undefined && rawBody !== null) {
        if (typeof rawBody === 'string') body = rawBody;
        else {
          body = JSON.stringify(rawBody);
          if (!headers.has('content-type')) headers.set('content-type', 'application/json');
        }
      }
      const timeoutMs = typeof input['timeoutMs'] === 'number' && input['timeoutMs'] > 0 ? input['timeoutMs'] : (ctx.timeoutMs ?? opts.defaultTimeoutMs);
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, { method, headers, body, signal, redirect: 'follow' });
        text = await readLimited(response);
      } catch (e: unknown) {
        if (e instanceof TaskFailure) throw e;
        if (ctx.signal.aborted) throw new TaskFailure('http request aborted: the conductor is shutting down', true);
        const name = (e as { name?: string }).name;
        if (name === 'TimeoutError' || name === 'AbortError') throw new TaskFailure(`http ${method} ${url} timed out after ${timeoutMs} ms`, true);
        const cause = (e as { cause?: { message?: string } }).cause?.message;
        throw new TaskFailure(`http ${method} ${url} failed: ${cause ?? (e as Error).message}`, true);
      }
      const responseHeaders: Record<string, string> = {};
      response.headers.forEach((v, k) => {
        responseHeaders[k] = v;
      });
      let parsed: Json = text;
      if (/[/+]json\b/i.test(response.headers.get('content-type') ?? '') && text.length > 0) {
        try {
          parsed = JSON.parse(text) as Json;
        } catch {
          parsed = text;
        }
      }
      if (response.status < 200 || response.status > 299) {
        const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
        throw new TaskFailure(`http ${method} ${url} answered ${response.status} ${response.statusText}`.trim(), retryable);
      }
      return { kind: 'completed', output: { status: response.status, headers: responseHeaders, body: parsed } };
    },
  };
}

async function readLimited(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_RESPONSE_BYTES) {
    await response.body?.cancel();
    throw new TaskFailure(`http response of ${declared} bytes is larger than the ${MAX_RESPONSE_BYTES}-byte limit`, false);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > MAX_RESPONSE_BYTES) {
        throw new TaskFailure(`http response is larger than the ${MAX_RESPONSE_BYTES}-byte limit`, false);
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}
