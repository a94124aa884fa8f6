import { describe, expect, it } from 'vitest';
import { QueryFailedError } from 'typeorm';
import { UnavailableError, ValidationError } from '../../src/domain/errors';
import { asUnavailable, unavailableCause } from '../../src/store/unavailable';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('which failures are a dependency being unavailable', () => {
  it.each([
    ['connect ECONNREFUSED 127.0.0.1:5499', withCode('connect ECONNREFUSED 127.0.0.1:5499', 'ECONNREFUSED'), 'ECONNREFUSED'],
    ['read ECONNRESET', withCode('read ECONNRESET', 'ECONNRESET'), 'ECONNRESET'],
    ['57P01 admin_shutdown', withCode('terminating connection due to administrator command', '57P01'), '57P01'],
    ['57P03 cannot_connect_now', withCode('the database system is starting up', '57P03'), '57P03'],
    ['08006 connection_failure', withCode('connection failure', '08006'), '08006'],
    ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly'), 'CONNECTION_LOST'],
    ['pg-pool: timeout exceeded when trying to connect', new Error('timeout exceeded when trying to connect'), 'POOL_TIMEOUT'],
    ['pg: not queryable', new Error('Client has encountered a connection error and is not queryable'), 'CONNECTION_LOST'],
    ['ioredis: Connection is closed.', new Error('Connection is closed.'), 'CONNECTION_LOST'],
    ['TypeORM wrapping 57P01', new QueryFailedError('SELECT 1', [], withCode('terminating connection due to administrator command', '57P01')), '57P01'],
    [
      'an AggregateError of two refused addresses',
      Object.assign(new AggregateError([withCode('a', 'ECONNREFUSED'), withCode('b', 'ECONNREFUSED')], 'x'), {}),
      'ECONNREFUSED',
    ],
    ['a cause chain', new Error('outer', { cause: withCode('inner', 'ECONNRESET') }), 'ECONNRESET'],
  ])('%s → UNAVAILABLE', (_name, error, cause) => {
    expect(unavailableCause(error)).toBe(cause);
    const typed = asUnavailable(error);
    expect(typed).toBeInstanceOf(UnavailableError);
    expect((typed as UnavailableError).data).toMatchObject({ retryAfterMs: 1_000, reason: cause });
  });

  it.each([
    ['a syntax error (42601)', withCode('syntax error at or near "x"', '42601')],
    ['a unique violation (23505)', withCode('duplicate key value', '23505')],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a domain error', new ValidationError('bad')],
    ['not an error', 'Connection terminated'],
  ])('%s stays what it is', (_name, error) => {
    expect(unavailableCause(error)).toBeNull();
    expect(asUnavailable(error)).toBe(error);
  });
});
