/**
 * The first hour of a new user (issue 15): what a browser sees on /graphql in production, the
 * worker's log lines in the server's format and its default URL, and the API-key cache as the
 * README documents it. Both modes: nothing here depends on the backend.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger';
import { CACHE_TTL_MS } from '../../src/services/auth.service';
import { parseWorkerConfig } from '../../src/worker-sdk/cli';
import { startTestApp, type TestApp } from '../helpers/app';
import { startWorkerProcess, waitFor, type Proc } from '../helpers/processes';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('a browser on /graphql in production (Playground off)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'production' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('gets a short page saying Playground is off and how to query, not a CSRF error', async () => {
    const res = await fetch(t.app.url, { headers: { accept: BROWSER_ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('GraphQL Playground is off here');
    expect(html).toContain('PLAYGROUND_ENABLED=true');
    expect(html).toContain('authorization: Bearer &lt;API key&gt;');
    expect(html).not.toMatch(/csrf|Cross-Site/i);
    // No Playground assets in production.
    expect((await fetch(new URL('/playground/@apollographql/graphql-playground-react/build/static/js/middleware.js', t.app.url))).status).toBe(404);
  });

  it('leaves API clients alone: a JSON GET still gets the GraphQL answer, a POST without a key 401', async () => {
    const get = await fetch(`${t.app.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/json' } });
    expect(get.headers.get('content-type')).toMatch(/json/);
    expect(await get.text()).not.toContain('<html');
    const post = await fetch(t.app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: BROWSER_ACCEPT },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(post.status).toBe(401);
    expect(((await post.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('the worker command', () => {
  let t: TestApp;
  let worker: Proc | undefined;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await worker?.kill();
    await t?.close();
  });

  it("logs in the server's format: the level as a word, ISO time, a service name", async () => {
    const serverLines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        serverLines.push(String(chunk));
        cb();
      },
    });
    createLogger({ level: 'info', destination: sink }).info('hello');
    const server = JSON.parse(serverLines[0]!) as Record<string, unknown>;

    worker = startWorkerProcess({ url: t.app.url, id: 'first-hour', queue: 'first-hour' });
    const first = await waitFor(() => worker!.lines()[0], 'the first worker log line', 60_000);
    expect(first).toMatchObject({ level: 'info', service: 'maestro-worker' });
    expect(typeof first['time']).toBe('string');
    expect(new Date(first['time'] as string).toISOString()).toBe(first['time']);
    // The same keys and kinds of values as the server's lines.
    expect(typeof server['level']).toBe(typeof first['level']);
    expect(typeof server['time']).toBe(typeof first['time']);
    expect(server['service']).toBe('maestro-conductor');
  });

  it('defaults its URL to the conductor on PORT when set, 4000 otherwise; --url and MAESTRO_URL win', () => {
    const base = ['--queue', 'q', '--handler', 'src/worker-sdk/examples/echo.ts'];
    const urlOf = (argv: string[], env: Record<string, string>) => (parseWorkerConfig([...base, ...argv], env, process.cwd()) as { url: string }).url;
    expect(urlOf([], {})).toBe('http://localhost:4000/graphql');
    expect(urlOf([], { PORT: '5123' })).toBe('http://localhost:5123/graphql');
    expect(urlOf([], { PORT: '5123', MAESTRO_URL: 'http://c:1/graphql' })).toBe('http://c:1/graphql');
    expect(urlOf(['--url', 'http://d:2/graphql'], { PORT: '5123' })).toBe('http://d:2/graphql');
    expect(() => urlOf([], { PORT: 'http' })).toThrow(/^PORT must be the conductor's port, an integer \(got "http"\); or set --url$/);
    // PORT is read only for the default: with a URL given, its value does not matter.
    expect(urlOf(['--url', 'http://d:2/graphql'], { PORT: 'http' })).toBe('http://d:2/graphql');
  });
});

describe('the API-key cache, as documented', () => {
  it("the README states the cache's lifetime and that revoked keys' sockets close within seconds", () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(`cached for ${CACHE_TTL_MS / 1000} s`);
    expect(readme).toMatch(/open WebSockets close\s+within moments on every replica/);
  });
});
