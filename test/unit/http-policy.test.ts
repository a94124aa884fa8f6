import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import {
  addressAllowed,
  EMPTY_HOST_LIST,
  judgeHostName,
  parseHostList,
  parsePorts,
  portAllowed,
  type DestinationPolicy,
} from '../../src/executors/http-policy';

const strict: DestinationPolicy = { allow: EMPTY_HOST_LIST, deny: EMPTY_HOST_LIST, ports: null };

describe('http step destination policy', () => {
  // Judged as text only: nothing here connects anywhere.
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'RFC 1918'],
    ['172.16.0.1', 'RFC 1918'],
    ['192.168.1.1', 'RFC 1918'],
    ['100.64.0.1', 'CGNAT'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['198.18.0.1', 'benchmarking'],
    ['192.0.2.1', 'documentation'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['fd00::1', 'unique local'],
    ['fe80::1', 'IPv6 link-local'],
    ['ff02::1', 'IPv6 multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of the metadata address'],
    ['2002:7f00:1::1', '6to4 of loopback'],
    ['2001:db8::1', 'IPv6 documentation'],
  ])('refuses %s (%s) by default', (address) => {
    expect(addressAllowed(strict, address)).toBe(false);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('allows public %s', (address) => {
    expect(addressAllowed(strict, address)).toBe(true);
  });

  it('widens with the allow-list, narrows with the deny-list, which wins', () => {
    const policy: DestinationPolicy = {
      allow: parseHostList('10.1.0.0/16, ::1/128, billing.internal.'),
      deny: parseHostList('10.1.2.3,Evil.Example'),
      ports: null,
    };
    expect(addressAllowed(policy, '10.1.9.9')).toBe(true);
    expect(addressAllowed(policy, '10.2.0.1')).toBe(false);
    expect(addressAllowed(policy, '::1')).toBe(true);
    expect(addressAllowed(policy, '10.1.2.3')).toBe(false);
    expect(addressAllowed(policy, '::ffff:10.1.2.3')).toBe(false);
    expect(judgeHostName(policy, 'BILLING.internal')).toBe('allowed');
    expect(judgeHostName(policy, 'evil.example.')).toBe('denied');
    // An allowed name may resolve to internal addresses, but not to denied ones.
    expect(addressAllowed(policy, '192.168.0.9', true)).toBe(true);
    expect(addressAllowed(policy, '10.1.2.3', true)).toBe(false);
  });

  it('parses ports and refuses bad lists with the entry named', () => {
    const policy: DestinationPolicy = { ...strict, ports: parsePorts('443, 8000-8999') };
    expect([443, 8000, 8999, 80, 9000].map((p) => portAllowed(policy, p))).toEqual([true, true, true, false, false]);
    expect(() => parsePorts('https')).toThrow(/"https"/);
    expect(() => parseHostList('10.0.0.0/33')).toThrow(/10.0.0.0\/33/);
    expect(() => parseHostList('*.internal')).toThrow(/\*\.internal/);
    expect(parseHostList('none')).toBe(EMPTY_HOST_LIST);
  });

  it('production allows no loopback by default; development and test allow it (the README tour)', () => {
    const prod = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x', REDIS_URL: 'redis://r:6379' });
    const dev = loadConfig({ NODE_ENV: 'development' });
    const policy = (c: typeof prod): DestinationPolicy => ({ allow: c.httpStepAllow, deny: c.httpStepDeny, ports: c.httpStepPorts });
    expect(addressAllowed(policy(prod), '127.0.0.1')).toBe(false);
    expect(addressAllowed(policy(dev), '127.0.0.1')).toBe(true);
    expect(addressAllowed(policy(dev), '::1')).toBe(true);
    expect(addressAllowed(policy(dev), '10.0.0.1')).toBe(false);
    expect(prod.dispatchTenantConcurrency).toBe(64);
    expect(prod.httpStepTenantConcurrency).toBe(16);
  });
});
