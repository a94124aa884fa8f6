/**
 * http steps cannot be used as a proxy into the conductor's network (issue #11, finding 5) and
 * judge their errors right (issue #12, 7a). Every byte stays on loopback: the "internal" target is
 * a listener on 127.0.0.2 that the test's configuration denies (HTTP_STEP_DENY), it must never see
 * a connection, and host names resolve through an injected resolver onto loopback addresses.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../src/executors/http';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { freePort } from '../helpers/net';

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { name version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id } }`;

/** A TCP listener that counts connections and answers nothing. */
async function tripwire(host: string): Promise<{ server: TcpServer; port: number; connections: () => number }> {
  let n = 0;
  const server = createTcpServer((socket) => {
    n++;
    socket.destroy();
  });
  server.listen(0, host);
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, connections: () => n };
}

function fakeResolver(map: Record<string, string[]>, calls: string[]): Resolver {
  return async (hostname) => {
    calls.push(hostname);
    const addresses = map[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

describe('http steps: destinations (SSRF)', () => {
  let t: TestApp;
  let strict: TestApp;
  let ports: TestApp;
  let otherPortHits = 0;
  let other: Server;
  let otherPort: number;
  let good: Server;
  let goodPort: number;
  let internal: Awaited<ReturnType<typeof tripwire>>;
  let closedInternalPort: number;
  let closedPort: number;
  const seen: { url: string; host: string | undefined; body: string }[] = [];
  const resolved: string[] = [];
  let rebinds = 0;

  beforeAll(async () => {
    internal = await tripwire('127.0.0.2');
    closedPort = await freePort();
    // A port with no listener on the denied address: refusals there must read the same as where one listens.
    const probe = createTcpServer().listen(0, '127.0.0.2');
    await once(probe, 'listening');
    closedInternalPort = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));

    good = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', host: req.headers.host, body });
        const url = new URL(req.url ?? '/', 'http://x');
        if (url.pathname === '/redirect') {
          res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
        } else if (url.pathname === '/loop') {
          res.writeHead(307, { location: '/loop' }).end();
        } else if (url.pathname === '/big') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          // Chunked, no content-length: the cap is enforced while streaming.
          for (let i = 0; i < 50; i++) res.write('x'.repeat(100));
          res.end();
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, path: url.pathname }));
        }
      });
    });
    good.listen(0, '127.0.0.1');
    await once(good, 'listening');
    goodPort = (good.address() as { port: number }).port;

    const names: Record<string, string[]> = {
      'good.test': ['127.0.0.1'],
      'evil.test': ['127.0.0.2'],
      'mixed.test': ['127.0.0.1', '127.0.0.2'],
      'mapped.test': ['::ffff:127.0.0.2'],
      localhost: ['127.0.0.1', '::1'],
    };
    const base = fakeResolver(names, resolved);
    // Answers 127.0.0.1 once, then the denied address: a connection that resolved again would go there.
    const resolver: Resolver = async (hostname) => {
      if (hostname === 'rebind.test') {
        resolved.push(hostname);
        return [{ address: rebinds++ === 0 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
      }
      return base(hostname);
    };
    t = await startTestApp({
      httpResolver: resolver,
      env: { HTTP_STEP_DENY: '127.0.0.2/32, denied.test', HTTP_STEP_MAX_RESPONSE_BYTES: '1000', HTTP_STEP_MAX_REQUEST_BYTES: '1000' },
    });
    // What production does by default: no loopback.
    strict = await startTestApp({ httpResolver: resolver, env: { HTTP_STEP_ALLOW: 'none' } });
    // An allowed address on a port outside HTTP_STEP_PORTS: must see nothing.
    other = createServer((_req, res) => {
      otherPortHits++;
      res.writeHead(200).end('{}');
    });
    other.listen(0, '127.0.0.1');
    await once(other, 'listening');
    otherPort = (other.address() as { port: number }).port;
    ports = await startTestApp({ httpResolver: resolver, env: { HTTP_STEP_PORTS: String(goodPort) } });
  });

  afterAll(async () => {
    await t?.close();
    await strict?.close();
    await ports?.close();
    good?.close();
    other?.close();
    internal?.server.close();
  });

  let n = 0;
  async function runStep(app: TestApp, input: Record<string, unknown>, retry = { maxAttempts: 3, initialDelayMs: 10 }) {
    const name = `h${++n}`;
    await app.ok(REGISTER, { input: { name, steps: [{ key: 'call', type: 'http', input, retry }] } });
    const { startRun } = await app.ok<{ startRun: { id: string } }>(START, { wf: name });
    const run = await waitForRun(app, startRun.id);
    return { run, call: run.tasks[0] as { status: string; attempt: number; error: string | null; output: any } };
  }

  const refusedUrls = () => [
    `http://127.0.0.2:${internal.port}/`,
    // WHATWG URL spellings of 127.0.0.2: decimal, hex, short form.
    `http://2130706434:${internal.port}/`,
    `http://0x7f000002:${internal.port}/`,
    `http://127.2:${internal.port}/`,
    `http://[::ffff:127.0.0.2]:${internal.port}/`,
    `http://evil.test:${internal.port}/`,
    `http://mixed.test:${internal.port}/`,
    `http://mapped.test:${internal.port}/`,
    `http://denied.test:${goodPort}/`,
    `http://127.0.0.1:${goodPort}/redirect?to=${encodeURIComponent(`http://127.0.0.2:${internal.port}/`)}`,
    `http://good.test:${goodPort}/redirect?to=${encodeURIComponent(`http://0x7f000002:${internal.port}/`)}`,
  ];

  it('refuses denied addresses in every spelling, by name and through redirects, at once and without a connection', async () => {
    for (const url of refusedUrls()) {
      const { run, call } = await runStep(t, { url });
      expect(run.status, url).toBe('FAILED');
      // Not retried, though the policy allows 3 attempts: a configuration error.
      expect(call.attempt, url).toBe(1);
      expect(call.error, url).toContain('destination not allowed');
    }
    expect(internal.connections()).toBe(0);
    console.log(`${refusedUrls().length} refused URLs, ${internal.connections()} connections to the denied listener`);
  });

  it('says the same whether a refused port is open or closed (no port-scan oracle)', async () => {
    const open = await runStep(t, { url: `http://127.0.0.2:${internal.port}/x` });
    const closed = await runStep(t, { url: `http://127.0.0.2:${closedInternalPort}/x` });
    expect(open.call.error!.replace(String(internal.port), 'P')).toBe(closed.call.error!.replace(String(closedInternalPort), 'P'));
    expect(open.call.error).not.toMatch(/ECONNREFUSED|closed|timed out|socket/i);
    expect(internal.connections()).toBe(0);
  });

  it('without loopback on the allow-list (the production default), loopback and localhost are refused', async () => {
    const before = seen.length;
    for (const url of [`http://127.0.0.1:${goodPort}/`, `http://localhost:${goodPort}/`, `http://2130706433:${goodPort}/`, `http://[::1]:${goodPort}/`]) {
      const { call } = await runStep(strict, { url });
      expect(call, url).toMatchObject({ status: 'FAILED', attempt: 1 });
      expect(call.error, url).toContain('destination not allowed');
    }
    expect(seen.length).toBe(before);
  });

  it('production, by default, refuses loopback: the conductor, its metrics port and any local service', async () => {
    const prod = await startTestApp({ httpResolver: fakeResolver({ localhost: ['127.0.0.1'] }, []), env: { NODE_ENV: 'production' } });
    try {
      const { key } = await prod.app.services.auth.createKey('prod-ssrf');
      const before = seen.length;
      const urls = [`http://127.0.0.1:${goodPort}/`, `http://localhost:${goodPort}/`, `http://127.0.0.1:${prod.app.metricsPort}/metrics`, '/healthz'];
      for (const [i, url] of urls.entries()) {
        await prod.ok(
          REGISTER,
          { input: { name: `prod-${i}`, steps: [{ key: 'call', type: 'http', input: { url }, retry: { maxAttempts: 3, initialDelayMs: 10 } }] } },
          key,
        );
        const { startRun } = await prod.ok<{ startRun: { id: string } }>(START, { wf: `prod-${i}` }, key);
        let run: any;
        for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
          run = (await prod.ok(`query($id: ID!) { run(id: $id) { status tasks { status attempt error } } }`, { id: startRun.id }, key)).run;
          if (run.status === 'FAILED' || run.status === 'SUCCEEDED') break;
        }
        expect(run.tasks[0], url).toMatchObject({ status: 'FAILED', attempt: 1 });
        expect(run.tasks[0].error, url).toContain('destination not allowed');
      }
      expect(seen.length).toBe(before);
    } finally {
      await prod.close();
    }
  });

  it('connects to the address it checked: a name resolving elsewhere later is not re-resolved (DNS rebinding)', async () => {
    rebinds = 0;
    const { run, call } = await runStep(t, { url: `http://rebind.test:${goodPort}/pinned` });
    expect(run.status).toBe('SUCCEEDED');
    expect(call.output.body).toEqual({ ok: true, path: '/pinned' });
    // Host stays the name; one resolution for the request.
    expect(seen.at(-1)).toMatchObject({ url: '/pinned', host: `rebind.test:${goodPort}` });
    expect(rebinds).toBe(1);
    expect(internal.connections()).toBe(0);
  });

  it('HTTP_STEP_PORTS: other ports are refused, directly, by name and through redirects, without a connection', async () => {
    const ok = await runStep(ports, { url: `http://good.test:${goodPort}/listed` });
    expect(ok.run.status).toBe('SUCCEEDED');
    for (const url of [
      `http://127.0.0.1:${otherPort}/`,
      `http://good.test:${otherPort}/`,
      `http://127.0.0.1:${goodPort}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${otherPort}/`)}`,
    ]) {
      const { call } = await runStep(ports, { url });
      expect(call, url).toMatchObject({ status: 'FAILED', attempt: 1 });
      expect(call.error, url).toContain('destination not allowed');
    }
    expect(otherPortHits).toBe(0);
  });

  it('a timeoutMs from a template is held to the cap when the step runs', async () => {
    const name = `templated-timeout-${++n}`;
    await t.ok(REGISTER, {
      input: { name, steps: [{ key: 'call', type: 'http', input: { url: `http://127.0.0.1:${goodPort}/t`, timeoutMs: '{{ input.t }}' } }] },
    });
    const before = seen.length;
    const { startRun } = await t.ok<{ startRun: { id: string } }>(START, { wf: name, input: { t: 4_233_600_000 } });
    const run = await waitForRun(t, startRun.id);
    expect(run.tasks[0]).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(run.tasks[0].error).toContain('HTTP_STEP_MAX_TIMEOUT_MS');
    expect(seen.length).toBe(before);
  });

  it('follows allowed redirects, up to the cap', async () => {
    const ok = await runStep(t, { url: `http://good.test:${goodPort}/redirect?to=/landed` });
    expect(ok.run.status).toBe('SUCCEEDED');
    expect(ok.call.output.body).toEqual({ ok: true, path: '/landed' });
    const loop = await runStep(t, { url: `http://good.test:${goodPort}/loop` });
    expect(loop.call).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(loop.call.error).toContain('more than 5 redirects');
  });

  it('configuration errors fail at once; network errors are retried (issue #12, 7a)', async () => {
    // Literal credentials and methods are refused at registration already (step-checks.ts).
    for (const input of [{ url: `http://user:secret@127.0.0.1:${goodPort}/` }, { url: `http://127.0.0.1:${goodPort}/`, method: 'TRACE' }]) {
      const res = await t.gql(REGISTER, { input: { name: `refused-${++n}`, steps: [{ key: 'call', type: 'http', input }] } });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_STEP_INPUT' });
    }
    const header = await runStep(t, { url: `http://127.0.0.1:${goodPort}/`, headers: { 'bad header': 'x' } });
    expect(header.call).toMatchObject({ status: 'FAILED', attempt: 1 });
    // An allowed destination that refuses the connection: a network error, retried.
    const refused = await runStep(t, { url: `http://127.0.0.1:${closedPort}/` }, { maxAttempts: 2, initialDelayMs: 10 });
    expect(refused.call).toMatchObject({ status: 'FAILED', attempt: 2 });
    expect(refused.call.error).toContain('ECONNREFUSED');
    // A name that does not resolve: retried too (DNS faults pass).
    const unresolved = await runStep(t, { url: `http://nowhere.test:${goodPort}/` }, { maxAttempts: 2, initialDelayMs: 10 });
    expect(unresolved.call).toMatchObject({ status: 'FAILED', attempt: 2 });
  });

  it('bounds response and request bodies', async () => {
    const big = await runStep(t, { url: `http://127.0.0.1:${goodPort}/big` });
    expect(big.call).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(big.call.error).toContain('larger than the 1000-byte limit');
    const before = seen.length;
    const post = await runStep(t, { url: `http://127.0.0.1:${goodPort}/post`, method: 'POST', body: 'y'.repeat(2000) });
    expect(post.call).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(post.call.error).toContain('HTTP_STEP_MAX_REQUEST_BYTES');
    expect(seen.length).toBe(before);
  });

  it('refuses http timeouts above the cap at registration (LIMIT_EXCEEDED)', async () => {
    for (const step of [
      { key: 'a', type: 'http', input: { url: 'http://127.0.0.1/' }, timeoutMs: 600_000 },
      { key: 'a', type: 'http', input: { url: 'http://127.0.0.1/', timeoutMs: 600_000 } },
    ]) {
      const res = await t.gql(REGISTER, { input: { name: 'long-wait', steps: [step] } });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'HTTP_STEP_MAX_TIMEOUT_MS', max: 300_000, actual: 600_000 });
    }
    const fine = await t.gql(REGISTER, {
      input: { name: 'long-wait', steps: [{ key: 'a', type: 'http', input: { url: 'http://127.0.0.1/' }, timeoutMs: 300_000 }] },
    });
    expect(fine.errors).toBeUndefined();
  });

  it('a url that is a path calls this conductor on the port it listens on, under the same policy', async () => {
    expect(t.app.port).not.toBe(4000);
    const own = await runStep(t, { url: '/healthz' });
    expect(own.run.status).toBe('SUCCEEDED');
    expect(own.call.output).toMatchObject({ status: 200, body: { status: 'ok' } });
    // From a template too (resolved when the task is queued, then sent to this conductor).
    await t.ok(REGISTER, { input: { name: 'own-path', steps: [{ key: 'call', type: 'http', input: { url: '{{ input.path }}' } }] } });
    const { startRun } = await t.ok<{ startRun: { id: string } }>(START, { wf: 'own-path', input: { path: '/readyz' } });
    const templated = await waitForRun(t, startRun.id);
    expect(templated.tasks[0]).toMatchObject({ status: 'SUCCEEDED', output: { status: 200 } });
    // Loopback is not allowed (production's default): the conductor itself is refused like any loopback address.
    const refused = await runStep(strict, { url: '/healthz' });
    expect(refused.call).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(refused.call.error).toContain('destination not allowed');
    // Scheme-relative and bare paths are not paths on this conductor.
    for (const url of ['//good.test/x', 'healthz', '/\\good.test/x']) {
      const res = await t.gql(REGISTER, { input: { name: `path-${++n}`, steps: [{ key: 'call', type: 'http', input: { url } }] } });
      expect(res.errors?.[0]?.extensions, url).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_STEP_INPUT' });
      expect(res.errors?.[0]?.message, url).toContain('or a path on this conductor such as "/healthz"');
    }
  });
});
