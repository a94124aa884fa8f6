import { describe, expect, it } from 'vitest';
import { isConductorPath } from '../../src/domain/step-checks';
import { conductorOrigin } from '../../src/http/conductor-origin';

describe('an http step calling this conductor by path', () => {
  it.each([
    ['127.0.0.1', 'http://127.0.0.1:5123'],
    ['0.0.0.0', 'http://127.0.0.1:5123'],
    ['localhost', 'http://127.0.0.1:5123'],
    ['', 'http://127.0.0.1:5123'],
    ['::', 'http://[::1]:5123'],
    ['::1', 'http://[::1]:5123'],
    ['[::1]', 'http://[::1]:5123'],
    ['10.1.2.3', 'http://10.1.2.3:5123'],
    ['fd00::5', 'http://[fd00::5]:5123'],
  ])('listening on %j, it calls %s', (host, origin) => {
    expect(conductorOrigin(host, 5123)).toBe(origin);
  });

  it.each([
    ['/healthz', true],
    ['/graphql?x=1', true],
    ['/', true],
    ['//evil.test/x', false],
    ['/\\evil.test/x', false],
    ['healthz', false],
    ['http://127.0.0.1/healthz', false],
    ['', false],
  ])('%j is a path on this conductor: %s', (url, expected) => {
    expect(isConductorPath(url)).toBe(expected);
  });
});
