import ipaddr from 'ipaddr.js';

/**
 * Where `http` steps may go. A tenant's http step runs inside the conductor's network, so by
 * default it may reach only public unicast addresses: never loopback, private (RFC 1918, CGNAT
 * 100.64/10), link-local (169.254/16, the cloud metadata address), multicast, unspecified,
 * broadcast, documentation or other reserved ranges, nor their IPv6 forms (::1, fc00::/7,
 * fe80::/10, and IPv4 embedded in ::ffff:0:0/96, NAT64 64:ff9b::/96 and 6to4 2002::/16, judged by
 * the IPv4 inside). An operator widens it with `allow` (CIDRs or host names) and narrows it with
 * `deny`, which wins over everything; `ports` (when set) lists the only ports allowed.
 */
export interface DestinationPolicy {
  readonly allow: HostList;
  readonly deny: HostList;
  /** Inclusive port ranges; null: any port. */
  readonly ports: readonly (readonly [number, number])[] | null;
}

export interface HostList {
  readonly cidrs: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][];
  /** Lower case, without a trailing dot. */
  readonly hosts: ReadonlySet<string>;
}

export const EMPTY_HOST_LIST: HostList = Object.freeze({ cidrs: [], hosts: new Set<string>() });

/** What development and tests allow by default: loopback, so the README tour can call the conductor itself. */
export const LOOPBACK_ALLOW = '127.0.0.0/8,::1/128';

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Parses `"10.0.0.0/8, 192.168.1.7, ::1/128, api.internal"` (commas or spaces); `none` or an empty
 * string is the empty list. Throws a message naming the bad entry.
 */
export function parseHostList(value: string): HostList {
  const entries = value
    .split(/[\s,]+/)
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e.length > 0);
  if (entries.length === 1 && entries[0] === 'none') return EMPTY_HOST_LIST;
  const cidrs: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  const hosts = new Set<string>();
  for (const entry of entries) {
    const bare = entry.replace(/^\[(.*)\]$/, '$1');
    if (bare.includes('/')) {
      try {
        const [addr, bits] = ipaddr.parseCIDR(bare);
        cidrs.push([unwrapMapped(addr), addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? bits - 96 : bits]);
      } catch {
        throw new Error(`"${entry}" is not a CIDR (like 10.0.0.0/8 or fd00::/8)`);
      }
    } else if (ipaddr.isValid(bare) && (ipaddr.IPv4.isValidFourPartDecimal(bare) || bare.includes(':'))) {
      const addr = unwrapMapped(ipaddr.parse(bare));
      cidrs.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else if (HOST_NAME.test(bare.replace(/\.$/, ''))) {
      hosts.add(bare.replace(/\.$/, ''));
    } else {
      throw new Error(`"${entry}" is neither a CIDR, an IP address nor a host name`);
    }
  }
  return Object.freeze({ cidrs, hosts });
}

/** `"80,443,8000-8999"`; empty or unset: any port (null). */
export function parsePorts(value: string | undefined): [number, number][] | null {
  if (value === undefined || value.trim() === '') return null;
  return value.split(/[\s,]+/).flatMap((entry) => {
    if (entry === '') return [];
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(entry);
    const lo = Number(m?.[1]);
    const hi = Number(m?.[2] ?? m?.[1]);
    if (!m || lo < 1 || hi > 65535 || lo > hi) throw new Error(`"${entry}" is not a port (1-65535) or a range like 8000-8999`);
    return [[lo, hi] as [number, number]];
  });
}

/** `::ffff:a.b.c.d` is a.b.c.d: Node connects to it over IPv4. */
function unwrapMapped(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

/** The IPv4 address that NAT64 (64:ff9b::/96) or 6to4 (2002::/16) would reach, if any. */
function embeddedIPv4(addr: ipaddr.IPv6): ipaddr.IPv4 | null {
  const range = addr.range();
  const b = addr.toByteArray();
  if (range === 'rfc6052') return new ipaddr.IPv4(b.slice(12, 16));
  if (range === '6to4') return new ipaddr.IPv4(b.slice(2, 6));
  return null;
}

function inList(list: HostList, addr: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return list.cidrs.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
}

/** Whether the address is public unicast: reachable on the internet and nothing else. */
function isPublic(addr: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  if (addr.kind() === 'ipv4') return addr.range() === 'unicast';
  const v6 = addr as ipaddr.IPv6;
  const inner = embeddedIPv4(v6);
  if (inner) return inner.range() === 'unicast';
  // Global unicast is 2000::/3; ipaddr.js names the special blocks inside it (teredo, ORCHID, …).
  return v6.range() === 'unicast' && v6.match(ipaddr.IPv6.parse('2000::'), 3);
}

/** The address forms an address may be judged by: itself, and the IPv4 address it embeds. */
function forms(addr: ipaddr.IPv4 | ipaddr.IPv6): (ipaddr.IPv4 | ipaddr.IPv6)[] {
  const a = unwrapMapped(addr);
  const inner = a.kind() === 'ipv6' ? embeddedIPv4(a as ipaddr.IPv6) : null;
  return inner ? [a, inner] : [a];
}

/** Lower case, without brackets or a trailing dot. */
export function normalHost(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/** Whether the host name itself is decided by the lists: denied, allowed, or up to its addresses. */
export function judgeHostName(policy: DestinationPolicy, host: string): 'denied' | 'allowed' | 'addresses' {
  const name = normalHost(host);
  if (policy.deny.hosts.has(name)) return 'denied';
  if (policy.allow.hosts.has(name)) return 'allowed';
  return 'addresses';
}

/**
 * Whether the conductor may connect to `address` (an IP address as text). `hostAllowed`: the
 * host name is on the allow-list, so only the deny-list applies to its addresses.
 */
export function addressAllowed(policy: DestinationPolicy, address: string, hostAllowed = false): boolean {
  if (!ipaddr.isValid(address)) return false;
  const all = forms(ipaddr.parse(address));
  if (all.some((a) => inList(policy.deny, a))) return false;
  if (hostAllowed) return true;
  if (all.some((a) => inList(policy.allow, a))) return true;
  return all.every(isPublic);
}

export function portAllowed(policy: DestinationPolicy, port: number): boolean {
  return policy.ports === null || policy.ports.some(([lo, hi]) => port >= lo && port <= hi);
}

/** An IP literal as the WHATWG URL parser leaves it (IPv6 in brackets), else null. */
export function ipLiteral(hostname: string): string | null {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1');
  if (bare.includes(':')) return ipaddr.IPv6.isValid(bare) ? bare : null;
  return ipaddr.IPv4.isValidFourPartDecimal(bare) ? bare : null;
}
