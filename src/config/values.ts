import { z } from 'zod';
import { parseHostList } from '../executors/http-policy';

/**
 * How a variable's text becomes a value (the zod types the configuration schema is built from),
 * and how a refused value is described: `Invalid configuration: X must be … (got …)`.
 */

export const MIB = 1024 * 1024;
export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
export const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

export const hostList = z.string().refine(
  (v) => {
    try {
      parseHostList(v);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'a comma-separated list of CIDRs (10.0.0.0/8, fd00::/8), IP addresses and host names, or "none"' },
);
/** `scheme://host[:port]` as browsers send it in `Origin`, or `*`. */
export const ORIGIN = /^(\*|https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?)$/;
/** A host name or address as it appears in `Host` (without the port), or `*`. */
export const HOST_NAME = /^(\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/;
export const list = (item: RegExp, message: string) =>
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .refine((items) => items.every((i) => item.test(i)), { message });

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; expected: string; received: string | undefined }[]) {
    super(
      issues
        .map((i) => `Invalid configuration: ${i.variable} must be ${i.expected} (got ${i.received === undefined ? 'nothing' : JSON.stringify(i.received)})`)
        .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'string' ? `at least ${String(issue.minimum)} characters` : `a number >= ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'string' ? `at most ${String(issue.maximum)} characters` : `a number <= ${String(issue.maximum)}`;
    case 'invalid_type':
      return issue.expected === 'number' || issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`;
    case 'custom':
      return issue.message;
    default:
      return issue.message;
  }
}
