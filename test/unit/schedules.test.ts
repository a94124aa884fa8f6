import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors';
import {
  compileCron,
  decideOverlap,
  fireTimesBetween,
  nextFireTimes,
  planCatchUp,
  type OverlapDecision,
  type OverlapPolicy,
  type OverlapState,
} from '../../src/domain/schedules';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('cron fire times across DST (croner, as it documents)', () => {
  // Table: zone, expression, from, the next three fire times (UTC).
  const cases: [string, string, string, string, string[]][] = [
    [
      'America/New_York spring-forward: 02:30 does not exist on 2030-03-10, fires at 03:00 EDT',
      'America/New_York',
      '30 2 * * *',
      '2030-03-09T12:00:00Z',
      ['2030-03-10T07:00:00.000Z', '2030-03-11T06:30:00.000Z', '2030-03-12T06:30:00.000Z'],
    ],
    [
      'America/New_York fall-back: 01:30 occurs twice on 2030-11-03, fires once (EDT)',
      'America/New_York',
      '30 1 * * *',
      '2030-11-02T12:00:00Z',
      ['2030-11-03T05:30:00.000Z', '2030-11-04T06:30:00.000Z', '2030-11-05T06:30:00.000Z'],
    ],
    [
      'Europe/Berlin spring-forward: 02:30 does not exist on 2030-03-31, fires at 03:00 CEST',
      'Europe/Berlin',
      '30 2 * * *',
      '2030-03-30T12:00:00Z',
      ['2030-03-31T01:00:00.000Z', '2030-04-01T00:30:00.000Z', '2030-04-02T00:30:00.000Z'],
    ],
    [
      'Europe/Berlin fall-back: 02:30 occurs twice on 2030-10-27, fires once (CEST)',
      'Europe/Berlin',
      '30 2 * * *',
      '2030-10-26T12:00:00Z',
      ['2030-10-27T00:30:00.000Z', '2030-10-28T01:30:00.000Z', '2030-10-29T01:30:00.000Z'],
    ],
    [
      'Europe/Berlin hourly across fall-back: local 02:00 twice is two distinct instants an hour apart',
      'Europe/Berlin',
      '0 * * * *',
      '2030-10-26T23:30:00Z',
      ['2030-10-27T00:00:00.000Z', '2030-10-27T01:00:00.000Z', '2030-10-27T02:00:00.000Z'],
    ],
  ];
  it.each(cases)('%s', (_name, timezone, cron, from, expected) => {
    expect(iso(nextFireTimes(compileCron({ cron, timezone }), new Date(from), 3))).toEqual(expected);
  });

  it('takes six fields with seconds first', () => {
    expect(iso(nextFireTimes(compileCron({ cron: '*/20 * * * * *', timezone: 'UTC' }), new Date('2030-01-01T00:00:00Z'), 3))).toEqual([
      '2030-01-01T00:00:20.000Z',
      '2030-01-01T00:00:40.000Z',
      '2030-01-01T00:01:00.000Z',
    ]);
  });

  it('keeps startAt (inclusive) and endAt (exclusive)', () => {
    const cron = compileCron({ cron: '0 * * * *', timezone: 'UTC', startAt: new Date('2030-01-01T05:00:00Z'), endAt: new Date('2030-01-01T07:00:00Z') });
    expect(iso(nextFireTimes(cron, new Date('2030-01-01T00:00:00Z'), 5))).toEqual(['2030-01-01T05:00:00.000Z', '2030-01-01T06:00:00.000Z']);
  });

  it.each([
    ['61 * * * *', 'INVALID_CRON'],
    ['* * * *', 'INVALID_CRON'],
    ['* * * * * * *', 'INVALID_CRON'],
    ['not a cron', 'INVALID_CRON'],
  ])('refuses %j (%s)', (cron, reason) => {
    const attempt = () => compileCron({ cron, timezone: 'UTC' });
    expect(attempt).toThrow(ValidationError);
    try {
      attempt();
    } catch (e: unknown) {
      expect((e as ValidationError).data).toMatchObject({ reason });
    }
  });

  it('refuses a time zone that is not IANA', () => {
    expect(() => compileCron({ cron: '* * * * *', timezone: 'Mars/Olympus' })).toThrow(/not an IANA time zone/);
  });
});

describe('catch-up plan', () => {
  const everyMinute = compileCron({ cron: '* * * * *', timezone: 'UTC' });
  const at = (m: number) => new Date(Date.UTC(2030, 0, 1, 0, m));

  it('fires the fire times within the window, counts older ones as missed', () => {
    const plan = planCatchUp(everyMinute, at(1), new Date(at(10).getTime() + 30_000), 150_000);
    expect(iso(plan.fire)).toEqual(iso([at(8), at(9), at(10)]));
    expect(plan.missed).toBe(7);
    expect(plan.next).toEqual(at(11));
  });

  it('fires the one due fire time when on time', () => {
    expect(planCatchUp(everyMinute, at(5), at(5), 60_000)).toEqual({ fire: [at(5)], missed: 0, next: at(6) });
  });

  it('a window of 0 fires only a fire time exactly at now', () => {
    const plan = planCatchUp(everyMinute, at(1), new Date(at(3).getTime() + 1), 0);
    expect(plan).toEqual({ fire: [], missed: 3, next: at(4) });
  });

  it('takes at most maxSteps per pass and leaves the rest for the next', () => {
    const plan = planCatchUp(everyMinute, at(0), at(59), 0, 10);
    expect(plan.missed).toBe(10);
    expect(plan.next).toEqual(at(10));
  });

  it('lists a backfill range [from, to) and tells when it holds more than the max', () => {
    expect(fireTimesBetween(everyMinute, at(0), at(3), 10)).toEqual([at(0), at(1), at(2)]);
    expect(fireTimesBetween(everyMinute, at(0), at(30), 5)).toHaveLength(6);
  });
});

describe('overlap decisions (Temporal names)', () => {
  const idle: OverlapState = { unfinished: 0, buffered: false };
  const busy: OverlapState = { unfinished: 1, buffered: false };
  const busyBuffered: OverlapState = { unfinished: 1, buffered: true };
  const cases: [OverlapPolicy, OverlapState, OverlapDecision][] = [
    ['SKIP', idle, { status: 'PENDING', cancelPrevious: false }],
    ['SKIP', busy, { status: 'SKIPPED' }],
    ['BUFFER_ONE', idle, { status: 'PENDING', cancelPrevious: false }],
    ['BUFFER_ONE', busy, { status: 'BUFFERED' }],
    ['BUFFER_ONE', busyBuffered, { status: 'SKIPPED' }],
    ['ALLOW_ALL', busy, { status: 'PENDING', cancelPrevious: false }],
    ['CANCEL_PREVIOUS', idle, { status: 'PENDING', cancelPrevious: false }],
    ['CANCEL_PREVIOUS', busy, { status: 'PENDING', cancelPrevious: true }],
  ];
  it.each(cases)('%s with %j → %j', (policy, state, decision) => {
    expect(decideOverlap(policy, state)).toEqual(decision);
  });
});
