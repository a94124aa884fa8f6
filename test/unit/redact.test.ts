import type { DestinationStream } from 'pino';
import { describe, expect, it } from 'vitest';
import { TemplateError } from '../../src/domain/errors';
import { createLogger } from '../../src/observability/logger';
import { isCardNumber, isSensitiveKey, luhnValid, REDACTED, scrubStack, scrubText, scrubValue } from '../../src/observability/redact';

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const JWT = `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url('{"sub":"user-42","email":"x@y.io"}')}.${b64url('signature-bytes-0001')}`;
const JWT_NONE = `${b64url('{"alg":"none"}')}.${b64url('{"sub":"u"}')}.`;
const API_KEY = `mk_${'Ab3_x-Z9'.repeat(5)}Q2w`; // 43 characters after the prefix, as AuthService mints them
const BASIC = Buffer.from('deploy-bot:s3cr3t-pass').toString('base64');

/** `secret` must vanish from `scrubText(input)` and a `[REDACTED:<kind>]` take its place. */
interface Positive {
  kind: string;
  input: string;
  secret: string;
}

const positives: Positive[] = [
  // Emails.
  { kind: 'email', input: 'contact jane.doe@example.com today', secret: 'jane.doe@example.com' },
  { kind: 'email', input: 'to=<j.o.h.n+billing@mail.sub.example.co.uk>', secret: 'j.o.h.n+billing@mail.sub.example.co.uk' },
  { kind: 'email', input: '{"email":"UPPER_case-99@Example.ORG"}', secret: 'UPPER_case-99@Example.ORG' },
  { kind: 'email', input: 'mailto:ops%team@example.io', secret: 'ops%team@example.io' },
  // Phones: E.164, NANP with separators, international with a +.
  { kind: 'phone', input: 'sms +14155552671 sent', secret: '+14155552671' },
  { kind: 'phone', input: 'call +1 415 555 2671', secret: '415 555 2671' },
  { kind: 'phone', input: 'call (415) 555-2671 now', secret: '(415) 555-2671' },
  { kind: 'phone', input: 'phone: 415-555-2671', secret: '415-555-2671' },
  { kind: 'phone', input: 'phone: 415.555.2671', secret: '415.555.2671' },
  { kind: 'phone', input: 'phone: 1-800-555-0199', secret: '800-555-0199' },
  { kind: 'phone', input: 'phone: 555-123-4567', secret: '555-123-4567' },
  { kind: 'phone', input: 'uk +44 20 7183 8750', secret: '7183 8750' },
  { kind: 'phone', input: 'uk +44 (0)20 7183 8750', secret: '7183 8750' },
  { kind: 'phone', input: 'fr +33 1 23 45 67 89', secret: '23 45 67 89' },
  { kind: 'phone', input: 'de +49-30-123456', secret: '30-123456' },
  { kind: 'phone', input: 'uk local (020) 7183 8750', secret: '7183 8750' },
  // SSNs.
  { kind: 'ssn', input: 'ssn 123-45-6789', secret: '123-45-6789' },
  { kind: 'ssn', input: 'SSN=078-05-1120;', secret: '078-05-1120' },
  { kind: 'ssn', input: 'ssn 123 45 6789 on file', secret: '123 45 6789' },
  // Cards: Luhn-valid, every network's length, spaced, dashed, contiguous, inside more digits.
  { kind: 'card', input: 'visa 4111 1111 1111 1111', secret: '1111 1111 1111' },
  { kind: 'card', input: 'visa 4111-1111-1111-1111 ok', secret: '1111-1111-1111' },
  { kind: 'card', input: 'visa 4012888888881881', secret: '4012888888881881' },
  { kind: 'card', input: 'visa13 4222222222222', secret: '4222222222222' },
  { kind: 'card', input: 'mc 5555 5555 5555 4444', secret: '5555 5555 4444' },
  { kind: 'card', input: 'mc2 2223003122003222', secret: '2223003122003222' },
  { kind: 'card', input: 'amex 3782 822463 10005', secret: '822463' },
  { kind: 'card', input: 'amex 378282246310005', secret: '378282246310005' },
  { kind: 'card', input: 'discover 6011111111111117', secret: '6011111111111117' },
  { kind: 'card', input: 'diners 30569309025904', secret: '30569309025904' },
  { kind: 'card', input: 'jcb 3530111333300000', secret: '3530111333300000' },
  { kind: 'card', input: 'card 4111 1111 1111 1111 12/27', secret: '1111 1111 1111' },
  { kind: 'card', input: 'ids 1234 4111111111111111', secret: '4111111111111111' },
  { kind: 'card', input: '{"card":"4111111111111111"}', secret: '4111111111111111' },
  // JWTs, bare and as bearer tokens.
  { kind: 'jwt', input: `token ${JWT} expired`, secret: JWT.split('.')[1] },
  { kind: 'jwt', input: `alg none: ${JWT_NONE}`, secret: JWT_NONE.split('.')[1] },
  { kind: 'jwt', input: `payload "${JWT.split('.')[1]}" quoted alone`, secret: JWT.split('.')[1] },
  { kind: 'jwt', input: JWT.split('.')[1], secret: JWT.split('.')[1] },
  { kind: 'bearer', input: `Authorization: Bearer ${JWT}`, secret: JWT.split('.')[2] },
  { kind: 'bearer', input: `sent bearer ${JWT}`, secret: JWT.split('.')[2] },
  { kind: 'bearer', input: 'Bearer 0123456789abcdefXYZ', secret: '0123456789abcdefXYZ' },
  { kind: 'bearer', input: 'with BEARER opaque.token-value_1', secret: 'opaque.token-value_1' },
  { kind: 'basic', input: `Basic ${BASIC}`, secret: BASIC },
  { kind: 'basic', input: `header basic ${BASIC} rejected`, secret: BASIC },
  // Our API keys.
  { kind: 'api_key', input: `key ${API_KEY} revoked`, secret: API_KEY.slice(3) },
  { kind: 'api_key', input: `"${API_KEY}"`, secret: API_KEY.slice(3) },
  // Connection strings: scheme and host stay, credentials go.
  { kind: 'credentials', input: 'postgres://app:hunter2@db.internal:5432/maestro', secret: 'hunter2' },
  { kind: 'credentials', input: 'redis://:r3d1s-pass@10.0.0.5:6379/0', secret: 'r3d1s-pass' },
  { kind: 'credentials', input: 'amqp://guest:guest-pw@rabbit/vhost', secret: 'guest-pw' },
  { kind: 'credentials', input: 'mongodb+srv://svc:p@ss@cluster0.example.net/db', secret: 'p@ss' },
  { kind: 'credentials', input: 'clone https://x-token:ghp_abcdef123456@github.example/org/repo.git', secret: 'ghp_abcdef123456' },
  // key=value secrets in free text (DSNs, JSON bodies, query strings).
  { kind: 'secret', input: 'host=db user=app password=hunter2 dbname=x', secret: 'hunter2' },
  { kind: 'secret', input: '{"password":"pa55word!","user":"x"}', secret: 'pa55word!' },
  { kind: 'secret', input: 'GET /cb?code=1&access_token=abcDEF123&x=1', secret: 'abcDEF123' },
  { kind: 'secret', input: "client_secret: 'cs-998877'", secret: 'cs-998877' },
  { kind: 'secret', input: 'x-api-key=topsecretvalue', secret: 'topsecretvalue' },
  // Percent-encoded, as in query strings.
  { kind: 'email', input: 'GET /u?email=jane.doe%40example.com&x=1', secret: 'jane.doe' },
  { kind: 'phone', input: 'GET /u?phone=%2B14155552671', secret: '14155552671' },
];

const negatives: string[] = [
  // Ids.
  'run 550e8400-e29b-41d4-a716-446655440000 started',
  'task 123e4567-e89b-12d3-a456-426614174000 and 12345678-1234-1234-1234-123456789012',
  'order ORD-2026-000123 paid; invoice INV5395583568',
  'order_12345678 customer 966472650',
  'traceId=6ee0d4a22220c18a57fff7f1faa41bba spanId=f1bb77356c917f6a',
  'commit f435f50fed630debc3b33244f8647f9edbcb3125',
  'snowflake 1800301644861459831',
  // Timestamps and dates.
  '2026-11-27T23:37:05.123Z',
  '2026-11-27T23:37:05+05:30 and 2026-11-27 23:37:05',
  'epoch 1764286625123 ms, ns 1764286625123456789',
  'compact 20261127233705 and 20261127233705123',
  // Versions.
  'v1.2.3 10.4.0 2.0.0-rc.4 1.0.0+20130313144700 20.19.43',
  'npm i pino@10.4.0 @opentelemetry/api@1.9.0',
  // IPs and ports.
  '192.168.100.200:5432 10.0.0.1 255.255.255.255 203.0.113.7',
  'ws://[::1]:4000 2001:db8:25ea::8e88',
  // Luhn-invalid and non-card numbers.
  'ref 4111111111111112',
  'ref 4111 1111 1111 1112',
  'ref 1234567890123456',
  'matrix 1 2 3 4 5 6 7 8 9 10 11 12 13',
  // Short numbers, counts, money.
  'retry 3 of 5 after 250 ms',
  '1,234,567,890 rows; cost $3975.26',
  'retry delays 100 200 400 800 1600 3200 ms',
  'ports 5432 6379 8080 9090',
  'sizes 100 250 1000',
  'plain integer 4155552671',
  // Durations.
  'took 1500ms',
  'elapsed 21:12:30.749, lag 93.94ms, timeout 30000 ms, 53m53s',
  // SQL.
  "SELECT id FROM runs WHERE tenant_id = $1 AND created_at > '2026-01-01' LIMIT 100",
  'UPDATE tasks SET lease_token = lease_token + 1 WHERE id = $1 RETURNING id',
  'SELECT * FROM users WHERE email IS NULL AND phone IS NOT NULL',
  // JSON.
  '{"runId":"88b089bc-fe44-44af-8711-9c760c5a61b0","durationMs":52243,"status":"SUCCEEDED"}',
  '{"items":[1,2,3],"page":{"limit":50,"offset":100}}',
  // URLs without credentials, and prose that looks like a scheme.
  'https://api.example.com/v1/orders/25878829?page=14&limit=10',
  'postgres://postgres@127.0.0.1:5432/postgres',
  'http://host:8080/a@b',
  'Bearer authentication required',
  'basic validation failed: url is required',
  'token bucket refilled: 50 tokens',
  'key prefix mk_abc1234 shown',
  'user @maestro-bot in #ops',
  'quota 79% used; GET /search?q=a%20b%2Fc',
];

describe('scrubText', () => {
  it.each(positives)('$kind: $input', ({ kind, input, secret }) => {
    const out = scrubText(input);
    expect(input).toContain(secret);
    expect(out).not.toContain(secret);
    expect(out).toContain(`[REDACTED:${kind}]`);
  });

  it('keeps what is around a redaction', () => {
    expect(scrubText('postgres://app:hunter2@db.internal:5432/maestro')).toBe('postgres://[REDACTED:credentials]@db.internal:5432/maestro');
    expect(scrubText('redis://:pw@127.0.0.1:6379')).toBe('redis://[REDACTED:credentials]@127.0.0.1:6379');
    expect(scrubText('a jane@example.com b')).toBe('a [REDACTED:email] b');
    expect(scrubText('host=db password=hunter2 user=app')).toBe('host=db password=[REDACTED:secret] user=app');
    expect(scrubText(`Authorization: Bearer ${JWT}`)).toBe('Authorization: Bearer [REDACTED:bearer]');
    expect(scrubText('5 4111111111111111 6 7')).toBe('5 [REDACTED:card] 6 7');
  });

  it.each(negatives)('leaves alone: %s', (input) => {
    expect(scrubText(input)).toBe(input);
  });

  it.each([
    ['a\nb', 'a b'],
    ['a\r\nb', 'a b'],
    ['a\rb', 'a b'],
    ['x\n', 'x '],
    ['forged\n{"level":"info","msg":"admin logged in"}', 'forged {"level":"info","msg":"admin logged in"}'],
    ['nel\u0085ls\u2028ps\u2029end', 'nel ls ps end'],
  ])('strips line breaks (log injection): %j', (input, expected) => {
    expect(scrubText(input)).toBe(expected);
  });

  it('stays linear on hostile input (64 KiB each: milliseconds; a backtracking blow-up would take seconds)', () => {
    const n = 65_536;
    const hostile = [
      '1'.repeat(n),
      '1 '.repeat(n / 2),
      `a${'a'.repeat(n)}@`,
      'a@'.repeat(n / 2),
      `+1 ${'2 '.repeat(n / 2)}`,
      'token: '.repeat(n / 7),
      `eyJ${'a.'.repeat(n / 2)}`,
      'Bearer '.repeat(n / 7),
      '(0'.repeat(n / 2),
    ];
    for (const s of hostile) {
      const t0 = performance.now();
      scrubText(s);
      expect(performance.now() - t0, s.slice(0, 20)).toBeLessThan(2_000);
    }
  });
});

describe('card numbers', () => {
  it.each(['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '3530111333300000', '30569309025904', '4222222222222'])(
    '%s is a card',
    (n) => {
      expect(luhnValid(n)).toBe(true);
      expect(isCardNumber(n)).toBe(true);
    },
  );
  it.each([
    ['4111111111111112', 'Luhn-invalid'],
    ['1764286625124', 'Luhn-valid epoch ms (starts with 1)'],
    ['20261127233702', 'Luhn-valid yyyyMMddHHmmss (14 digits from 20)'],
    ['411111111111', 'too short'],
    ['41111111111111111113', 'too long'],
  ])('%s is not (%s)', (n) => {
    expect(isCardNumber(n)).toBe(false);
  });
  it('the "Luhn-valid" fixtures above really are', () => {
    expect(luhnValid('1764286625124')).toBe(true);
    expect(luhnValid('20261127233702')).toBe(true);
  });
});

describe('isSensitiveKey', () => {
  it.each([
    'authorization',
    'Authorization',
    'cookie',
    'Set-Cookie',
    'password',
    'PASSWORD',
    'passwd',
    'secret',
    'token',
    'apiKey',
    'api_key',
    'x-api-key',
    'X-API-KEY',
    'accessToken',
    'refresh_token',
    'clientSecret',
    'privateKey',
    'databaseUrl',
    'DATABASE_URL',
    'redisUrl',
    'connectionString',
    'ssn',
    'creditCard',
    'card_number',
    'dbPassword',
    'githubToken',
    'awsSecretAccessKey',
  ])('%s is sensitive', (k) => expect(isSensitiveKey(k)).toBe(true));
  it.each(['runId', 'taskId', 'tenantId', 'workflow', 'key', 'status', 'tokens', 'maxTokens', 'durationMs', 'email', 'headers', 'url'])('%s is not', (k) =>
    expect(isSensitiveKey(k)).toBe(false),
  );
});

describe('scrubValue', () => {
  it('scrubs strings at any depth and redacts sensitive keys whatever their value', () => {
    const input = {
      runId: 'r-1',
      durationMs: 12,
      ok: true,
      nothing: null,
      user: { email: 'jane@example.com', phones: ['+14155552671', 'ext 12'], password: 'hunter2', apiKey: { nested: 'x' } },
      headers: { Authorization: 'Bearer abc123', cookie: 'sid=1', 'X-Api-Key': 'k', accept: 'application/json' },
      config: { databaseUrl: 'postgres://u:p@h/db', redisUrl: 'redis://h', poolSize: 10, apiKey: null, token: '' },
      list: [[['deep', 'ssn 123-45-6789']]],
      cardAsNumber: 4111111111111111,
      orderAsNumber: 1764286625123,
    };
    const before = structuredClone(input);
    expect(scrubValue(input)).toEqual({
      runId: 'r-1',
      durationMs: 12,
      ok: true,
      nothing: null,
      user: { email: '[REDACTED:email]', phones: ['[REDACTED:phone]', 'ext 12'], password: REDACTED, apiKey: REDACTED },
      headers: { Authorization: REDACTED, cookie: REDACTED, 'X-Api-Key': REDACTED, accept: 'application/json' },
      // Absent and empty values stay: "no key was sent" is useful and not secret.
      config: { databaseUrl: REDACTED, redisUrl: REDACTED, poolSize: 10, apiKey: null, token: '' },
      list: [[['deep', 'ssn [REDACTED:ssn]']]],
      cardAsNumber: '[REDACTED:card]',
      orderAsNumber: 1764286625123,
    });
    expect(input).toEqual(before); // a copy: the caller's object is untouched
  });

  it('is cycle-safe: a cycle becomes "[Circular]", a shared (acyclic) reference is copied', () => {
    const shared = { email: 'a@example.com' };
    const a: Record<string, unknown> = { name: 'a', left: shared, right: shared };
    a['self'] = a;
    const arr: unknown[] = [1];
    arr.push(arr);
    a['arr'] = arr;
    expect(scrubValue(a)).toEqual({
      name: 'a',
      left: { email: '[REDACTED:email]' },
      right: { email: '[REDACTED:email]' },
      self: '[Circular]',
      arr: [1, '[Circular]'],
    });
  });

  it('bounds depth, width, nodes and string length', () => {
    let deep: Record<string, unknown> = { leaf: 'jane@example.com' };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    const out = JSON.stringify(scrubValue(deep, { maxDepth: 5 }));
    expect(out).toContain('[Truncated]');
    expect(out).not.toContain('jane@example.com');

    const wide = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]));
    const w = scrubValue(wide) as Record<string, unknown>;
    expect(Object.keys(w)).toHaveLength(101);
    expect(w['[truncated]']).toBe('200 more keys');
    expect(
      scrubValue(
        Array.from({ length: 150 }, (_, i) => i),
        { maxKeys: 10 },
      ),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, '[140 more items]']);

    const many = Array.from({ length: 50 }, () => Array.from({ length: 50 }, () => ({ x: 1 })));
    expect(JSON.stringify(scrubValue(many, { maxNodes: 100 }))).toContain('[Truncated]');

    const long = scrubValue(`${'x'.repeat(20_000)} jane@example.com`, { maxStringLength: 100 }) as string;
    expect(long.length).toBeLessThan(200);
    expect(long).toContain('[truncated 19917 chars]');
  });

  it('turns errors into pino-shaped objects with message, stack, causes and props scrubbed', () => {
    const cause = new Error('upstream said jane@example.com is unknown');
    const e = new TemplateError('Template "{{ input.cards[4111111111111111] }}" cannot be resolved\nforged line', {
      template: '{{ input.cards[4111111111111111] }}',
      token: 'lease-token-1',
    });
    (e as { cause?: unknown }).cause = cause;
    const out = scrubValue({ err: e }) as { err: Record<string, any> };
    expect(out.err['type']).toBe('TemplateError');
    expect(out.err['code']).toBe('BAD_USER_INPUT');
    expect(out.err['message']).toBe('Template "{{ input.cards[[REDACTED:card]] }}" cannot be resolved forged line: upstream said [REDACTED:email] is unknown');
    expect(out.err['data']).toEqual({ template: '{{ input.cards[[REDACTED:card]] }}', token: REDACTED });
    const stack = out.err['stack'] as string;
    expect(stack).toMatch(/^TemplateError: Template "\{\{ input\.cards\[\[REDACTED:card\]\] \}\}" cannot be resolved forged line\n\s+at /);
    expect(stack).toContain('caused by: Error: upstream said [REDACTED:email] is unknown');
    expect(stack).not.toMatch(/4111111111111111|jane@example\.com/);
    // Frames keep their own lines.
    expect(stack.split('\n').filter((l) => /^\s+at /.test(l)).length).toBeGreaterThan(2);
  });

  it('scrubStack joins a multi-line message but keeps frames apart', () => {
    expect(scrubStack('Error: a\nb jane@example.com\n    at f (x.js:1:1)\n    at g (y.js:2:2)')).toBe(
      'Error: a b [REDACTED:email]\n    at f (x.js:1:1)\n    at g (y.js:2:2)',
    );
  });

  it('handles Maps, Sets, Dates, URLs, Buffers and http requests', () => {
    const req = {
      method: 'POST',
      url: '/graphql?email=jane@example.com',
      headers: { authorization: 'Bearer x', 'user-agent': 'curl/8' },
      socket: { remoteAddress: '127.0.0.1', remotePort: 5555 },
      body: { huge: 'ignored' },
    };
    expect(
      scrubValue({
        map: new Map<unknown, unknown>([
          ['email', 'a@example.com'],
          [1, { password: 'x' }],
        ]),
        set: new Set(['+14155552671']),
        at: new Date('2026-11-27T00:00:00.000Z'),
        url: new URL('postgres://app:hunter2@db:5432/x'),
        buf: Buffer.from('4111111111111111'),
        req,
      }),
    ).toEqual({
      map: { email: '[REDACTED:email]', '1': { password: REDACTED } },
      set: ['[REDACTED:phone]'],
      at: '2026-11-27T00:00:00.000Z',
      url: 'postgres://[REDACTED:credentials]@db:5432/x',
      buf: '[Binary 16 bytes]',
      req: {
        method: 'POST',
        url: '/graphql?email=[REDACTED:email]',
        headers: { authorization: REDACTED, 'user-agent': 'curl/8' },
        remoteAddress: '127.0.0.1',
        remotePort: 5555,
      },
    });
  });
});

/** A pino destination that keeps the lines. */
function capture(): { stream: DestinationStream; lines: string[]; parsed: () => Record<string, any>[] } {
  const lines: string[] = [];
  return {
    stream: { write: (s: string) => void lines.push(s) },
    lines,
    parsed: () => lines.map((l) => JSON.parse(l) as Record<string, any>),
  };
}

describe('createLogger', () => {
  it('scrubs the message, its printf arguments, the merged object, errors and bindings', () => {
    const out = capture();
    const log = createLogger({ level: 'debug', base: { region: 'eu', adminEmail: 'root@example.com' }, destination: out.stream });
    log.info('user jane@example.com\nlogged in');
    log.info(
      { runId: 'r-1', input: { ssn: '123-45-6789', note: 'card 4111 1111 1111 1111' }, headers: { authorization: `Bearer ${JWT}` } },
      'run %s for %s',
      'r-1',
      '+1 415 555 2671',
    );
    log.error(new Error('failed for jane@example.com'));
    log.error({ err: new Error('db postgres://app:hunter2@db/x down') });
    log.warn({ err: new Error('x') }, 'with %j', { password: 'hunter2', to: 'bob@example.com' });
    const child = log.child({ tenantId: 't-1', token: 'lease-secret', contact: 'c@example.com' });
    child.debug('from a child');
    child.child({ caller: '415-555-2671' }).debug('from a grandchild');
    child.setBindings({ later: 'ssn 123-45-6789' });
    child.info('after setBindings');

    const text = out.lines.join('');
    for (const canary of [
      'jane@example.com',
      '123-45-6789',
      '4111 1111 1111 1111',
      JWT.split('.')[1],
      '415 555 2671',
      'hunter2',
      'bob@example.com',
      'lease-secret',
      'c@example.com',
      '415-555-2671',
      'root@example.com',
    ]) {
      expect(text, canary).not.toContain(canary);
    }
    const lines = out.parsed();
    expect(lines).toHaveLength(8);
    expect(lines[0]).toMatchObject({
      level: 'info',
      service: 'maestro-conductor',
      region: 'eu',
      adminEmail: '[REDACTED:email]',
      msg: 'user [REDACTED:email] logged in',
    });
    expect(lines[1]).toMatchObject({
      runId: 'r-1',
      input: { ssn: REDACTED, note: 'card [REDACTED:card]' },
      headers: { authorization: REDACTED },
      msg: 'run r-1 for [REDACTED:phone]',
    });
    expect(lines[2]).toMatchObject({ level: 'error', msg: 'failed for [REDACTED:email]', err: { type: 'Error', message: 'failed for [REDACTED:email]' } });
    expect(lines[2]['err']['stack']).toMatch(/^Error: failed for \[REDACTED:email\]\n\s+at /);
    expect(lines[3]).toMatchObject({
      msg: 'db postgres://[REDACTED:credentials]@db/x down',
      err: { message: 'db postgres://[REDACTED:credentials]@db/x down' },
    });
    expect(lines[4]['msg']).toBe('with {"password":"[REDACTED]","to":"[REDACTED:email]"}');
    expect(lines[5]).toMatchObject({ tenantId: 't-1', token: REDACTED, contact: '[REDACTED:email]', msg: 'from a child' });
    expect(lines[6]).toMatchObject({ tenantId: 't-1', caller: '[REDACTED:phone]', msg: 'from a grandchild' });
    expect(lines[7]).toMatchObject({ later: 'ssn [REDACTED:ssn]', msg: 'after setBindings' });
  });
});
