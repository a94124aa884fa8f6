import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_VARS, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('has working defaults: embedded, development, port 4000', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      env: 'development',
      allowAnonymous: true,
      port: 4000,
      metricsPort: 9464,
      metricsLabelValuesMax: 100,
      startupWaitMs: 0,
      readinessTimeoutMs: 500,
      databaseUrl: undefined,
      redisUrl: undefined,
      dataDir: '.maestro/data',
      playgroundEnabled: true,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  const PRODUCTION = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/maestro', REDIS_URL: 'redis://redis:6379' } as const;

  it('production requires API keys and hides Playground unless asked', () => {
    expect(loadConfig(PRODUCTION)).toMatchObject({ allowAnonymous: false, playgroundEnabled: false });
    expect(loadConfig({ ...PRODUCTION, PLAYGROUND_ENABLED: 'true' }).playgroundEnabled).toBe(true);
  });

  it.each<[string, Record<string, string>, string]>([
    ['no database at all', { NODE_ENV: 'production' }, 'DATABASE_URL must be set when NODE_ENV=production'],
    ['an empty DATABASE_URL', { NODE_ENV: 'production', DATABASE_URL: '', REDIS_URL: 'redis://r' }, 'DATABASE_URL must be set when NODE_ENV=production'],
    [
      'a database but no Redis',
      { NODE_ENV: 'production', DATABASE_URL: 'postgres://u:hunter2@db/m' },
      'REDIS_URL must be set when NODE_ENV=production and DATABASE_URL is set',
    ],
  ])('production refuses %s: replicas would split the data or the leases', (_name, env, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message.split('\n')).toEqual([expect.stringContaining(`Invalid configuration: ${message}`)]);
    expect((error as ConfigError).message).not.toMatch(/hunter2/);
  });

  it('production runs one node on embedded storage when MAESTRO_DATA_DIR is chosen deliberately', () => {
    expect(loadConfig({ NODE_ENV: 'production', MAESTRO_DATA_DIR: '/var/lib/maestro' })).toMatchObject({
      databaseUrl: undefined,
      redisUrl: undefined,
      dataDir: '/var/lib/maestro',
    });
  });

  it('reports a bad value and a production requirement together', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PORT: 'x' })).toThrow(/PORT must be an integer[\s\S]*DATABASE_URL must be set/);
  });

  it.each([
    ['PORT', 'abc', /PORT must be an integer/],
    ['PORT', '70000', /PORT must be a number <= 65535/],
    ['NODE_ENV', 'prod', /NODE_ENV must be one of development, production, test/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL must be one of/],
    ['DATABASE_URL', 'mysql://u:secret@h/db', /DATABASE_URL must be a URL starting with postgres:\/\/ or postgresql:\/\//],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\//],
    ['DATABASE_POOL_SIZE', '0', /DATABASE_POOL_SIZE must be a number >= 1/],
    ['SHUTDOWN_GRACE_MS', '-1', /SHUTDOWN_GRACE_MS must be a number >= 0/],
    ['SCHEDULER_POLL_INTERVAL_MS', 'often', /SCHEDULER_POLL_INTERVAL_MS must be an integer/],
    ['DISPATCH_CONCURRENCY', '1.5', /DISPATCH_CONCURRENCY must be an integer/],
    ['HTTP_STEP_DEFAULT_TIMEOUT_MS', '0', /HTTP_STEP_DEFAULT_TIMEOUT_MS must be a number >= 1/],
    ['PLAYGROUND_ENABLED', 'yes', /PLAYGROUND_ENABLED must be one of .*true.*false/],
    ['REDIS_KEY_PREFIX', 'has space', /REDIS_KEY_PREFIX must be up to 64/],
    ['METRICS_PORT', '4000', /METRICS_PORT must be different from PORT/],
    ['METRICS_LABEL_VALUES_MAX', '0', /METRICS_LABEL_VALUES_MAX must be a number >= 1/],
    ['STARTUP_WAIT_MS', '1m', /STARTUP_WAIT_MS must be an integer/],
    ['READINESS_TIMEOUT_MS', '10', /READINESS_TIMEOUT_MS must be a number >= 50/],
  ])('%s=%s is rejected with a message naming the variable', (name, value, message) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(message);
    expect((error as ConfigError).issues.map((i) => i.variable)).toEqual([name]);
  });

  it('never echoes a connection string, which may hold a password', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://u:hunter2@h/db' })).toThrow(/<hidden>/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://u:hunter2@h/db' })).not.toThrow(/hunter2/);
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/PORT[\s\S]*LOG_LEVEL/);
  });

  it('treats empty strings as unset (as Helm renders optional values)', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' })).toMatchObject({ databaseUrl: undefined, port: 4000 });
  });

  it('lists each variable once', () => {
    expect(new Set(ENV_VARS).size).toBe(ENV_VARS.length);
  });
});
