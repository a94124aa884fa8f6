import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors';
import { normalizeDefinition } from '../../src/domain/dag';
import { checkEventId, checkEventName, eventRunKey, filterMatches, matchTriggers, type TriggerRow } from '../../src/domain/triggers';
import { parseSignatures, parseTimestamp, signWebhook, verifyWebhook, withinWindow } from '../../src/domain/webhook-signature';

const steps = [{ key: 'a', type: 'noop' }];

describe('trigger definitions', () => {
  it('are kept only when given: a definition without `on` hashes as before', () => {
    expect(normalizeDefinition({ name: 'w', steps }).definition).not.toHaveProperty('on');
    expect(normalizeDefinition({ name: 'w', steps, on: [] }).definition).not.toHaveProperty('on');
    expect(
      normalizeDefinition({
        name: 'w',
        steps,
        on: [
          { event: 'a.b', filter: null },
          { event: 'c', filter: 'payload.x == 1' },
        ],
      }).definition.on,
    ).toEqual([{ event: 'a.b' }, { event: 'c', filter: 'payload.x == 1' }]);
  });

  it.each([
    [[{ event: 'e', filter: 'payload.x >' }], 'INVALID_TRIGGER_FILTER', 'on[0].filter', 'EXPRESSION_SYNTAX'],
    [[{ event: 'e', filter: '"text"' }], 'INVALID_TRIGGER_FILTER', 'on[0].filter', 'EXPRESSION_RESULT_TYPE'],
    [[{ event: 'e' }, { event: 'e', filter: 'steps.a.output' }], 'INVALID_TRIGGER_FILTER', 'on[1].filter', 'EXPRESSION_TYPE'],
    [[{ event: 'no/slash' }], 'INVALID_TRIGGER', 'on[0].event', undefined],
  ])('refuses %j: %s at %s', (on, reason, field, celReason) => {
    let error: unknown;
    try {
      normalizeDefinition({ name: 'w', steps, on });
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).data).toMatchObject({ reason, field, ...(celReason ? { celReason } : {}) });
  });
});

describe('matching', () => {
  const row = (workflowName: string, filter: string | null = null): TriggerRow => ({
    workflowId: `id-${workflowName}`,
    workflowName,
    workflowVersion: 1,
    filter,
  });

  it('keeps each workflow once, in name order, when a trigger passes', () => {
    const rows = [row('b', 'payload.n > 1'), row('b', 'payload.n > 0'), row('a'), row('c', 'payload.n > 5')];
    expect(matchTriggers(rows, { n: 2 }).map((m) => m.workflow)).toEqual(['a', 'b']);
    expect(matchTriggers(rows, { n: 0 }).map((m) => m.workflow)).toEqual(['a']);
  });

  it('treats a filter that fails on the payload as no match', () => {
    expect(filterMatches('payload.missing == 1', { other: 1 })).toBe(false);
    expect(filterMatches('has(payload.missing) && payload.missing == 1', { other: 1 })).toBe(false);
    expect(filterMatches('payload.n == 1', null)).toBe(false);
    expect(filterMatches(null, null)).toBe(true);
    expect(filterMatches('payload.tags.exists(t, t == "vip")', { tags: ['x', 'vip'] })).toBe(true);
  });

  it('checks names and ids', () => {
    expect(() => checkEventName('order.created')).not.toThrow();
    expect(() => checkEventName('a/b')).toThrow(ValidationError);
    expect(() => checkEventId('x'.repeat(128))).not.toThrow();
    expect(() => checkEventId('x'.repeat(129))).toThrow(ValidationError);
    expect(() => checkEventId('a b')).toThrow(ValidationError);
  });

  it('gives every starter of an event the same run key, distinct per workflow and event', () => {
    const at = new Date(1_700_000_000_000);
    expect(eventRunKey('e1', 'w', at)).toBe(eventRunKey('e1', 'w', new Date(at)));
    const keys = [eventRunKey('e1', 'w', at), eventRunKey('e1', 'v', at), eventRunKey('e2', 'w', at), eventRunKey('e1', 'w', new Date(at.getTime() + 1))];
    expect(new Set(keys).size).toBe(4);
    expect(eventRunKey('x'.repeat(128), 'w'.repeat(128), at).length).toBeLessThanOrEqual(256);
  });
});

describe('webhook signatures', () => {
  const body = Buffer.from('{"a":1}');

  it('signs "<timestamp>\\n<id>\\n<body>" with HMAC-SHA256, as the README shows', () => {
    const expected = createHmac('sha256', 'whsec_k').update('1700000000\nid-1\n{"a":1}').digest('hex');
    expect(signWebhook('whsec_k', '1700000000', 'id-1', body)).toBe(expected);
  });

  it('verifies against any secret and any v1 signature, nothing else', () => {
    const sig = signWebhook('s2', '1', 'id', body);
    expect(verifyWebhook(['s1', 's2'], parseSignatures(`v1=${'0'.repeat(64)}, v1=${sig}`), '1', 'id', body)).toBe(true);
    expect(verifyWebhook(['s1'], parseSignatures(`v1=${sig}`), '1', 'id', body)).toBe(false);
    expect(verifyWebhook(['s2'], parseSignatures(`v1=${sig}`), '2', 'id', body)).toBe(false);
    expect(verifyWebhook(['s2'], parseSignatures(`v1=${sig}`), '1', 'other', body)).toBe(false);
    expect(verifyWebhook(['s2'], parseSignatures(`v0=${sig}`), '1', 'id', body)).toBe(false);
    // No secret (unknown tenant): false, even for a signature made with the throwaway key.
    expect(verifyWebhook([], parseSignatures(`v1=${signWebhook('whsec_no-such-tenant', '1', 'id', body)}`), '1', 'id', body)).toBe(false);
  });

  it('parses timestamps and applies the window either way', () => {
    expect(parseTimestamp('1700000000')).toBe(1_700_000_000);
    expect(parseTimestamp('17e8')).toBeNull();
    expect(parseTimestamp(undefined)).toBeNull();
    const now = new Date(1_700_000_000_000);
    expect(withinWindow(1_700_000_000 - 300, now, 300_000)).toBe(true);
    expect(withinWindow(1_700_000_000 - 301, now, 300_000)).toBe(false);
    expect(withinWindow(1_700_000_000 + 301, now, 300_000)).toBe(false);
  });
});
