import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/observability/logger';
import { scrubText } from '../../src/observability/redact';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Runbook section 6, "send test data with PII through a workflow and inspect logs": canary PII
 * goes in through request headers, the run input, an http step's response, an upstream 500, a
 * URL with credentials and template errors, and the captured log output must hold none of it,
 * while still saying what happened (runIds, workflows, statuses, error text).
 *
 * The app logs little about runs yet, so the test also logs the way careless code would (a whole
 * run with its inputs, outputs and errors; the raw upstream request; an access line with
 * headers) through the app's own logger: whatever is added to the app later passes the same
 * scrubber, and whatever the app logs today is captured here too.
 */

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const CANARY = {
  email: 'jane.canary+pii@example-canary.com',
  upstreamEmail: 'bob.upstream@canary-mail.org',
  phone: '+1 (415) 555-0134',
  upstreamPhone: '415.555.0199',
  ssn: '512-73-4890',
  upstreamSsn: '219-09-9999',
  card: '4539 1488 0343 6467',
  upstreamCard: '5425233430109903',
  jwt: `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url('{"sub":"canary-subject","role":"admin"}')}.${b64url('canary-signature-0042')}`,
  fakeApiKey: `mk_${b64url('canary-api-key-bytes-32-long!!!!')}`,
  sessionToken: 'sess-C4N4RY-7f3a9b',
  password: 'Pa55-C4n4ry-w0rd',
  basic: Buffer.from('canary-user:canary-basic-pw').toString('base64'),
};

/** Everything that must not appear, canaries and their telltale parts. */
function forbiddenSubstrings(realApiKey: string): string[] {
  const digits = (s: string) => s.replace(/\D/g, '');
  const jwtParts = CANARY.jwt.split('.');
  return [
    CANARY.email,
    'jane.canary',
    'jane.canary%2Bpii',
    CANARY.upstreamEmail,
    'bob.upstream',
    CANARY.phone,
    '555-0134',
    digits(CANARY.phone),
    CANARY.upstreamPhone,
    digits(CANARY.upstreamPhone),
    CANARY.ssn,
    digits(CANARY.ssn),
    CANARY.upstreamSsn,
    CANARY.card,
    digits(CANARY.card),
    '1488 0343',
    CANARY.upstreamCard,
    ...jwtParts,
    CANARY.fakeApiKey.slice(3),
    realApiKey.slice(3),
    CANARY.sessionToken,
    CANARY.password,
    CANARY.basic,
  ];
}

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id status } }`;
const RUN = `query($id: ID!) { run(id: $id) { id status input output error tasks { id key status attempt input output error } } }`;
const WORKFLOWS = `{ workflows(first: 5) { edges { node { name } } } }`;

interface TaskView {
  id: string;
  key: string;
  status: string;
  input: unknown;
  output: unknown;
  error: string | null;
}
interface RunView {
  id: string;
  status: string;
  input: unknown;
  output: unknown;
  error: string | null;
  tasks: TaskView[];
}

/** A pino destination that keeps every line. */
function capture(): { stream: DestinationStream; lines: string[] } {
  const lines: string[] = [];
  return { stream: { write: (s: string) => void lines.push(s) }, lines };
}

/** Every string in a parsed line with its key, for the line-break check. */
function strings(value: unknown, key = '', out: { key: string; value: string }[] = []): { key: string; value: string }[] {
  if (typeof value === 'string') out.push({ key, value });
  else if (Array.isArray(value)) value.forEach((v) => strings(v, key, out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) strings(v, k, out);
  return out;
}

describe('PII in logs (runbook section 6)', () => {
  const logs = capture();
  let logger: Logger;
  let t: TestApp;
  let upstream: Server;
  let base: string;
  let port: number;
  /** What the upstream server really received (asserted on, never logged raw). */
  const received: { url: string; headers: IncomingMessage['headers']; body: string }[] = [];

  beforeAll(async () => {
    logger = createLogger({ level: 'debug', destination: logs.stream });
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ url: req.url ?? '', headers: req.headers, body });
        // Careless upstream-call logging: the raw request (headers included) and its body.
        logger.info({ req, body }, 'upstream received %s %s', req.method, req.url);
        const path = new URL(req.url ?? '/', 'http://localhost').pathname;
        if (path === '/profile') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              contact: { email: CANARY.upstreamEmail, phone: CANARY.upstreamPhone },
              ssn: CANARY.upstreamSsn,
              cards: [CANARY.upstreamCard],
              note: `call ${CANARY.upstreamPhone} or write to ${CANARY.upstreamEmail}\r\n{"level":"info","msg":"forged line"}`,
            }),
          );
        } else if (path === '/fail') {
          // PII in the status text (it ends up in the step's error message) and in the body.
          res.writeHead(500, `Upstream failed for ${CANARY.upstreamEmail}`, { 'content-type': 'text/plain' });
          res.end(`internal error: customer ${CANARY.upstreamSsn} card ${CANARY.upstreamCard}`);
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      upstream.once('error', reject);
      upstream.listen(0, '127.0.0.1', () => resolve());
    });
    port = (upstream.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
    t = await startTestApp({ logger });
  });

  afterAll(async () => {
    await t?.close();
    if (upstream) {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });

  it('runs carrying canary PII leave none of it in the captured logs, which still say what happened', async () => {
    const { key: apiKey } = await t.app.services.auth.createKey('pii-tenant', 'pii test');

    /** An access-log line, as a request logger would write it (headers and all). */
    const access = (authorization: string, extra: Record<string, string> = {}) =>
      logger.info({ req: { method: 'POST', url: '/graphql', headers: { authorization, 'content-type': 'application/json', ...extra } } }, 'request');

    // Headers: a garbage bearer (a JWT), a fake key and basic credentials are refused.
    for (const authorization of [`Bearer ${CANARY.jwt}`, `Bearer ${CANARY.fakeApiKey}`, `Basic ${CANARY.basic}`]) {
      access(authorization, { cookie: `session=${CANARY.sessionToken}` });
      const refused = await t.gql(WORKFLOWS, {}, authorization.replace(/^Bearer /, ''));
      expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      logger.warn({ code: refused.errors?.[0]?.extensions?.code, authorization }, `refused request with ${authorization}`);
    }

    const ok = async <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
      access(`Bearer ${apiKey}`);
      return t.ok<T>(query, variables, apiKey);
    };
    const register = (name: string, steps: unknown[]) => ok(REGISTER, { input: { name, steps } });

    await register('pii-flow', [
      { key: 'hello', type: 'noop', input: { customer: '{{ input.customer }}', greeting: 'hello {{ input.customer.name }} <{{ input.customer.email }}>' } },
      {
        key: 'profile',
        type: 'http',
        dependsOn: ['hello'],
        input: {
          url: `${base}/profile?email={{ input.customer.email }}&phone={{ input.customer.phone }}`,
          method: 'POST',
          headers: { authorization: 'Bearer {{ input.token }}', 'x-api-key': '{{ input.apiKey }}', cookie: 'session={{ input.sessionToken }}' },
          body: { customer: '{{ input.customer }}' },
        },
      },
    ]);
    await register('pii-upstream-500', [{ key: 'boom', type: 'http', input: { url: `${base}/fail?ssn={{ input.ssn }}` }, retry: { maxAttempts: 1 } }]);
    await register('pii-url-credentials', [
      // Through the input: a literal URL with credentials is refused at registration, before any log.
      { key: 'creds', type: 'http', input: { url: '{{ input.profileUrl }}' }, retry: { maxAttempts: 1 } },
    ]);
    await register('pii-template-card', [
      { key: 'a', type: 'noop', input: { cards: [1] } },
      // A card number as an array index: "… does not exist on steps.a.output.cards".
      { key: 'b', type: 'noop', dependsOn: ['a'], input: { v: `{{ steps.a.output.cards[${CANARY.card.replace(/\D/g, '')}] }}` } },
    ]);
    await register('pii-template-jwt', [
      { key: 'a', type: 'noop', input: {} },
      // A JWT as a path (its three segments are three names): the template is quoted in the error.
      { key: 'b', type: 'noop', dependsOn: ['a'], input: { v: `{{ steps.a.output.${CANARY.jwt} }}` } },
    ]);

    const input = {
      customer: {
        name: 'Jane\r\nCanary',
        email: CANARY.email,
        phone: CANARY.phone,
        ssn: CANARY.ssn,
        card: CANARY.card,
        notes: `card ${CANARY.card}, ssn ${CANARY.ssn}, reach me at ${CANARY.phone} or ${CANARY.email}`,
      },
      token: CANARY.jwt,
      apiKey: CANARY.fakeApiKey,
      profileUrl: `http://svc:${CANARY.password}@127.0.0.1:${port}/profile`,
      sessionToken: CANARY.sessionToken,
      ssn: CANARY.ssn,
    };
    // The runs belong to pii-tenant, so wait on the engine's hook rather than waitForRun (which
    // reads as the anonymous tenant). Listening before startRun: a noop run may finish at once.
    const waiters = new Map<string, () => void>();
    const done = new Set<string>();
    const onFinished = (e: { runId: string }) => {
      done.add(e.runId);
      waiters.get(e.runId)?.();
    };
    t.app.hooks.on('run:finished', onFinished);
    const waitFor = (runId: string) => (done.has(runId) ? Promise.resolve() : new Promise<void>((resolve) => waiters.set(runId, resolve)));
    const runs: Record<string, RunView> = {};
    for (const wf of ['pii-flow', 'pii-upstream-500', 'pii-url-credentials', 'pii-template-card', 'pii-template-jwt']) {
      const { startRun } = await ok<{ startRun: { id: string } }>(START, { wf, input });
      await waitFor(startRun.id);
      const { run } = await ok<{ run: RunView }>(RUN, { id: startRun.id });
      runs[wf] = run;
      // Careless run logging: the whole run, inputs and outputs included, and each failure.
      const runLog = logger.child({ runId: run.id, tenantId: 'pii-tenant', workflow: wf, customer: input.customer.email });
      runLog.debug({ run }, 'run %s finished %s: %s', run.id, run.status, run.error ?? 'no error');
      for (const task of run.tasks) {
        if (task.error) {
          runLog.error({ taskId: task.id, step: task.key, err: new Error(task.error) }, `task ${task.key} failed: ${task.error}`);
          runLog.warn(task.error);
        }
      }
    }

    t.app.hooks.off('run:finished', onFinished);

    // The canaries really went through: the workflow ran as planned and the upstream saw them.
    expect(runs['pii-flow'].status).toBe('SUCCEEDED');
    expect(received[0].headers.authorization).toBe(`Bearer ${CANARY.jwt}`);
    expect(received[0].headers.cookie).toBe(`session=${CANARY.sessionToken}`);
    expect(received[0].url).toContain('jane.canary+pii@example-canary.com');
    expect(JSON.stringify(runs['pii-flow'].output)).toContain(CANARY.upstreamCard);
    expect(runs['pii-upstream-500']).toMatchObject({ status: 'FAILED' });
    expect(runs['pii-upstream-500'].tasks[0].error).toContain(CANARY.upstreamEmail);
    expect(runs['pii-url-credentials'].tasks[0].error).toContain(CANARY.password);
    expect(runs['pii-template-card'].tasks.find((x) => x.key === 'b')?.error).toContain(CANARY.card.replace(/\D/g, ''));
    expect(runs['pii-template-jwt'].tasks.find((x) => x.key === 'b')?.error).toContain(CANARY.jwt);

    // Zero canaries in the logs.
    const text = logs.lines.join('');
    const leaks = forbiddenSubstrings(apiKey).filter((s) => text.includes(s));
    expect(leaks, `canaries in the logs:\n${logs.lines.filter((l) => leaks.some((s) => l.includes(s))).join('')}`).toEqual([]);

    // Yet the logs are there and useful.
    const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      expect(line).toMatchObject({ service: 'maestro-conductor', level: expect.any(String), time: expect.any(String) });
      // No line breaks from user data in any value (stack frames are the exception: their own lines).
      for (const s of strings(line)) if (s.key !== 'stack') expect(s.value, `${s.key} in ${JSON.stringify(line)}`).not.toMatch(/[\r\n\u2028\u2029]/);
    }
    expect(lines.some((l) => /listening on/.test(l['msg'] ?? ''))).toBe(true);
    let fromApp = 0;
    for (const [wf, run] of Object.entries(runs)) {
      const about = lines.filter((l) => l['runId'] === run.id);
      expect(
        about.some((l) => l['workflow'] === wf && l['tenantId'] === 'pii-tenant'),
        wf,
      ).toBe(true);
      // The test's own run lines carry a `customer` binding; the rest are the app's.
      fromApp += about.filter((l) => !('customer' in l)).length;
      expect(about.filter((l) => 'customer' in l).every((l) => l['customer'] === '[REDACTED:email]')).toBe(true);
    }
    const byMsg = (re: RegExp) => lines.filter((l) => re.test(l['msg'] ?? ''));
    expect(byMsg(/^task boom failed: http GET .*\/fail\?ssn=\[REDACTED:ssn\] answered 500 Upstream failed for \[REDACTED:email\]$/)).toHaveLength(1);
    expect(byMsg(/^task creds failed: .*http:\/\/\[REDACTED:credentials\]@127\.0\.0\.1/)).toHaveLength(1);
    expect(byMsg(/cannot be resolved.*\[REDACTED:card\]/).length).toBeGreaterThan(0);
    expect(byMsg(/cannot be resolved.*\[REDACTED:jwt\]/).length).toBeGreaterThan(0);
    const errLine = lines.find((l) => l['step'] === 'boom' && l['err']);
    expect(errLine?.['err']).toMatchObject({ type: 'Error', message: expect.stringContaining('answered 500') });
    expect(errLine?.['err']['stack']).toMatch(/\n\s+at /);
    const upstreamLine = lines.find((l) => /^upstream received POST \/profile/.test(l['msg'] ?? ''));
    expect(upstreamLine?.['req']).toMatchObject({
      method: 'POST',
      headers: { authorization: '[REDACTED]', cookie: '[REDACTED]', 'x-api-key': '[REDACTED]' },
    });
    expect(upstreamLine?.['req']['url']).toContain('[REDACTED:email]');
    const finished = lines.find((l) => l['runId'] === runs['pii-flow'].id && l['run']);
    expect(finished?.['run']).toMatchObject({
      status: 'SUCCEEDED',
      input: {
        customer: { name: 'Jane Canary', email: '[REDACTED:email]', phone: '[REDACTED:phone]', ssn: '[REDACTED]', card: '[REDACTED:card]' },
        token: '[REDACTED]',
      },
    });
    for (const kind of ['email', 'phone', 'ssn', 'card', 'jwt', 'credentials']) expect(text, kind).toContain(`[REDACTED:${kind}]`);

    console.log(
      `[pii-logs] ${lines.length} log lines captured (${fromApp} about these runs written by the app itself), ` +
        `${forbiddenSubstrings(apiKey).length} canary substrings checked, 0 found`,
    );
  });

  it('a clean corpus of ordinary log messages is left alone (false-positive rate below 1%)', () => {
    const corpus = readFileSync(join(__dirname, '../fixtures/pii/clean-corpus.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.length > 0);
    expect(corpus.length).toBeGreaterThanOrEqual(200);
    const changed = corpus.map((line) => ({ line, out: scrubText(line) })).filter((x) => x.out !== x.line);
    const rate = changed.length / corpus.length;
    console.log(
      `[pii-logs] clean corpus: ${changed.length} of ${corpus.length} messages changed, false-positive rate ${(rate * 100).toFixed(2)}%` +
        changed.map((x) => `\n  ${x.line}\n  → ${x.out}`).join(''),
    );
    expect(rate).toBeLessThan(0.01);
  });
});
