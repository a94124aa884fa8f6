import { HTTP_METHODS, isConductorPath } from '../domain/step-checks';
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, validateHeaderName, validateHeaderValue, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Json } from '../domain/glossary';
import { isObject, TaskFailure, type Executor } from './executor';
import { addressAllowed, ipLiteral, judgeHostName, normalHost, portAllowed, type DestinationPolicy } from './http-policy';

const METHODS: ReadonlySet<string> = new Set(HTTP_METHODS);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Dropped when a redirect leaves the origin (the Fetch standard drops Authorization the same way). */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];

/** Addresses of a host name, as `dns.lookup({ all: true })` gives them. Injected in tests. */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Bounds of one http step (see `docs/LIMITS.md`). */
export interface HttpStepLimits {
  /** Longest timeout a step may ask for. */
  maxTimeoutMs: number;
  /** Larger responses fail the step (streamed, aborted past it). */
  maxResponseBytes: number;
  /** Larger request bodies fail the step before anything is sent. */
  maxRequestBytes: number;
  /** Redirects followed (each re-checked against the policy); one more fails the step. */
  maxRedirects: number;
}

export interface HttpExecutorOptions {
  defaultTimeoutMs: number;
  policy: DestinationPolicy;
  limits: HttpStepLimits;
  /** @default the system resolver (dns.lookup) */
  resolve?: Resolver;
  /**
   * Where this conductor answers (`http://127.0.0.1:4000`): a `url` that is a path (`/healthz`)
   * goes here. The destination policy applies as to any URL (loopback is refused in production
   * unless HTTP_STEP_ALLOW lets it). @default none: a path fails the step
   */
  conductorOrigin?: string;
}

/**
 * A destination the policy refuses. The message is the same whatever the reason (a private,
 * loopback or denied address, a port not allowed, a name resolving to any of them), and nothing is
 * sent: the error cannot tell a tenant what is behind it (open, closed, filtered).
 */
function notAllowed(method: string, url: URL): TaskFailure {
  return new TaskFailure(
    `http ${method} ${url.origin}: destination not allowed (http steps may not reach loopback, private, link-local or other ` +
      `internal addresses; an operator can allow one with HTTP_STEP_ALLOW)`,
    false,
  );
}

/**
 * `{ url, method?, headers?, body?, timeoutMs? }` → `{ status, headers, body }`, the body parsed
 * when it is JSON. Configuration errors (a bad URL, credentials in it, a refused destination, a
 * bad method or header, sizes over the limits) fail the step at once, whatever its retry policy;
 * network errors, timeouts, 5xx, 408 and 429 may be retried; other 4xx may not (the same request
 * would fail the same way).
 *
 * The host is resolved here and every address checked against the policy; the connection goes to
 * the checked address only (the socket's lookup answers with it), so a name cannot resolve to
 * something else between the check and the connect (DNS rebinding). Host and SNI stay the name.
 * Redirects are followed here, each hop checked the same way.
 */
export function createHttpExecutor(opts: HttpExecutorOptions): Executor {
  const resolve = opts.resolve ?? systemResolver;
  const { limits, policy } = opts;
  return {
    type: 'http',
    async execute(ctx) {
      const input = ctx.input;
      if (!isObject(input)) throw new TaskFailure('http needs an object input: { "url": "https://…", "method": "GET" }', false);
      let url = parseUrl(input['url'], 'url', opts.conductorOrigin);
      let method = typeof input['method'] === 'string' ? input['method'].toUpperCase() : 'GET';
      if (!METHODS.has(method)) throw new TaskFailure(`http "method" must be one of ${[...METHODS].join(', ')}`, false);
      const headers: Record<string, string> = {};
      const rawHeaders = input['headers'] ?? {};
      if (!isObject(rawHeaders)) throw new TaskFailure('http "headers" must be an object of strings', false);
      for (const [k, v] of Object.entries(rawHeaders)) {
        if (typeof v !== 'string') throw new TaskFailure(`http header "${k}" must be a string`, false);
        try {
          validateHeaderName(k);
          validateHeaderValue(k, v);
        } catch {
          throw new TaskFailure(`http header ${JSON.stringify(k)} has an invalid name or value (no control characters or line breaks)`, false);
        }
        headers[k.toLowerCase()] = v;
      }
      let body: Buffer | undefined;
      const rawBody = input['body'];
      if (rawBody !== undefined && rawBody !== null) {
        body = Buffer.from(typeof rawBody === 'string' ? rawBody : JSON.stringify(rawBody), 'utf8');
        if (typeof rawBody !== 'string' && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
        if (body.byteLength > limits.maxRequestBytes) {
          throw new TaskFailure(
            `http request body of ${body.byteLength} bytes is larger than the ${limits.maxRequestBytes}-byte limit (HTTP_STEP_MAX_REQUEST_BYTES)`,
            false,
          );
        }
      }
      const timeoutMs = timeoutOf(input['timeoutMs'], ctx.timeoutMs ?? opts.defaultTimeoutMs, limits.maxTimeoutMs);
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
      const shownUrl = url.href;

      let response: { status: number; statusText: string; headers: Record<string, string>; text: string };
      try {
        for (let hop = 0; ; hop++) {
          const address = await checkDestination(url, method);
          const res = await send(url, address, method, headers, body, signal);
          const location = res.headers['location'];
          if (!REDIRECTS.has(res.statusCode ?? 0) || typeof location !== 'string') {
            response = {
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? '',
              headers: flatHeaders(res),
              text: await readLimited(res, limits.maxResponseBytes),
            };
            break;
          }
          res.destroy();
          if (hop >= limits.maxRedirects) {
            throw new TaskFailure(`http ${method} ${shownUrl}: more than ${limits.maxRedirects} redirects (HTTP_STEP_MAX_REDIRECTS)`, false);
          }
          const next = parseUrl(new URL(location, url).href, 'redirect');
          if (next.origin !== url.origin) for (const h of CREDENTIAL_HEADERS) delete headers[h];
          // 303, and 301/302 after a POST, continue as GET without the body (as browsers do).
          if (res.statusCode === 303 ? method !== 'HEAD' : (res.statusCode === 301 || res.statusCode === 302) && method === 'POST') {
            method = 'GET';
            body = undefined;
            delete headers['content-type'];
          }
          url = next;
        }
      } catch (e: unknown) {
        if (e instanceof TaskFailure) throw e;
        if (ctx.signal.aborted) throw new TaskFailure('http request aborted: the conductor is shutting down', true);
        const name = (e as { name?: string }).name;
        if (name === 'TimeoutError' || name === 'AbortError' || signal.aborted) {
          throw new TaskFailure(`http ${method} ${shownUrl} timed out after ${timeoutMs} ms`, true);
        }
        throw new TaskFailure(`http ${method} ${shownUrl} failed: ${(e as Error).message}`, true);
      }

      let parsed: Json = response.text;
      if (/[/+]json\b/i.test(response.headers['content-type'] ?? '') && response.text.length > 0) {
        try {
          parsed = JSON.parse(response.text) as Json;
        } catch {
          parsed = response.text;
        }
      }
      if (response.status < 200 || response.status > 299) {
        const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
        throw new TaskFailure(`http ${method} ${shownUrl} answered ${response.status} ${response.statusText}`.trim(), retryable);
      }
      return { kind: 'completed', output: { status: response.status, headers: response.headers, body: parsed } };
    },
  };

  /** The address to connect to, after checking the port, the name and every address it resolves to. */
  async function checkDestination(url: URL, method: string): Promise<string> {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    if (!portAllowed(policy, port)) throw notAllowed(method, url);
    const literal = ipLiteral(url.hostname);
    if (literal !== null) {
      if (!addressAllowed(policy, literal)) throw notAllowed(method, url);
      return literal;
    }
    const byName = judgeHostName(policy, url.hostname);
    if (byName === 'denied') throw notAllowed(method, url);
    let addresses: { address: string }[];
    try {
      addresses = await resolve(normalHost(url.hostname));
    } catch (e: unknown) {
      // A name that does not resolve may be a passing DNS fault: retried per the policy.
      throw new TaskFailure(
        `http ${method} ${url.origin} failed: the host name could not be resolved (${(e as { code?: string }).code ?? 'no address'})`,
        true,
      );
    }
    if (addresses.length === 0) throw new TaskFailure(`http ${method} ${url.origin} failed: the host name could not be resolved (no address)`, true);
    // Every address must pass: a name answering one public and one internal address is refused.
    if (!addresses.every((a) => addressAllowed(policy, a.address, byName === 'allowed'))) throw notAllowed(method, url);
    return addresses[0]!.address;
  }

  function send(
    url: URL,
    address: string,
    method: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal,
  ): Promise<IncomingMessage> {
    const family = address.includes(':') ? 6 : 4;
    // The socket connects to the checked address whatever the name resolves to now.
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
      else callback(null, address, family);
    };
    const outgoing: OutgoingHttpHeaders = { ...headers, host: url.host };
    if (body !== undefined) outgoing['content-length'] = body.byteLength;
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolvePromise, reject) => {
      const req = request({
        protocol: url.protocol,
        hostname: normalHost(url.hostname),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method,
        headers: outgoing,
        lookup: pinned,
        // SNI and certificate checks use the name, not the address.
        ...(ipLiteral(url.hostname) === null ? { servername: normalHost(url.hostname) } : {}),
        // No pooling: every request connects afresh to the address checked for it.
        agent: false,
        signal,
      });
      req.once('response', resolvePromise);
      req.once('error', reject);
      req.end(body);
    });
  }
}

/**
 * An http(s) URL without credentials, or a configuration failure naming what to fix. With
 * `conductorOrigin`, a path (`/healthz`) is a URL on this conductor.
 */
function parseUrl(raw: Json | undefined, what = 'url', conductorOrigin?: string): URL {
  if (typeof raw === 'string' && conductorOrigin !== undefined && isConductorPath(raw) && URL.canParse(raw, conductorOrigin)) {
    return new URL(raw, conductorOrigin);
  }
  if (typeof raw !== 'string' || !/^https?:\/\//i.test(raw) || !URL.canParse(raw)) {
    const path = typeof raw === 'string' && isConductorPath(raw) ? ' or a path on this conductor such as "/healthz"' : '';
    throw new TaskFailure(`http needs "${what}" to be an http(s) URL${path}, got ${JSON.stringify(raw ?? null)}`, false);
  }
  const url = new URL(raw);
  if (url.username !== '' || url.password !== '') {
    throw new TaskFailure(`http needs a URL without credentials, got ${raw}: send them in an "authorization" header instead`, false);
  }
  return url;
}

function timeoutOf(asked: Json | undefined, fallback: number, max: number): number {
  if (asked === undefined || asked === null) return Math.min(fallback, max);
  if (typeof asked !== 'number' || !Number.isInteger(asked) || asked < 1 || asked > max) {
    throw new TaskFailure(`http "timeoutMs" must be an integer from 1 to ${max} (HTTP_STEP_MAX_TIMEOUT_MS), got ${JSON.stringify(asked)}`, false);
  }
  return asked;
}

function flatHeaders(res: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

async function readLimited(res: IncomingMessage, max: number): Promise<string> {
  const declared = Number(res.headers['content-length'] ?? 0);
  const tooLarge = (size: string) =>
    new TaskFailure(`http response${size} is larger than the ${max}-byte limit (HTTP_STEP_MAX_RESPONSE_BYTES); ask for less, or raise the limit`, false);
  if (declared > max) {
    res.destroy();
    throw tooLarge(` of ${declared} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > max) {
      res.destroy();
      throw tooLarge('');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
