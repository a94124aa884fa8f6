import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors';
import { pageOf, pageWindow, type CursorCodec } from '../../src/services/pagination';

/** A listing of numbers; a cursor is "n:<number>". */
const codec: CursorCodec<number, number> = {
  encode: (n) => `n:${n}`,
  decode: (c) => (/^n:\d+$/.test(c) ? Number(c.slice(2)) : null),
};

describe('pageWindow', () => {
  it.each([
    [{}, { direction: 'forward', size: 20, limit: 21, after: null, before: null }],
    [
      { first: 5, after: 'n:3' },
      { direction: 'forward', size: 5, limit: 6, after: 3, before: null },
    ],
    [
      { last: 5, before: 'n:9' },
      { direction: 'backward', size: 5, limit: 6, after: null, before: 9 },
    ],
    [{ last: 5 }, { direction: 'backward', size: 5, limit: 6, after: null, before: null }],
    // before alone: the default size just before it; first with before: from the start up to it.
    [{ before: 'n:9' }, { direction: 'backward', size: 20, limit: 21, after: null, before: 9 }],
    [
      { first: 2, before: 'n:9' },
      { direction: 'forward', size: 2, limit: 3, after: null, before: 9 },
    ],
    [
      { first: 2, after: 'n:1', before: 'n:9' },
      { direction: 'forward', size: 2, limit: 3, after: 1, before: 9 },
    ],
    // An empty cursor is no cursor (as `after: ""` always was).
    [
      { first: 1, after: '', last: null, before: '' },
      { direction: 'forward', size: 1, limit: 2, after: null, before: null },
    ],
  ])('%j → %j', (args, window) => {
    expect(pageWindow(args, codec)).toEqual({ ...window, counts: true });
  });

  it.each([
    // No cursor on the side the page looks back to: pageInfo needs no count.
    [{ first: 5 }, false],
    [{ last: 5 }, false],
    [{ first: 2, before: 'n:9' }, false],
    [{ last: 2, after: 'n:1' }, false],
    // hasPreviousPage forwards (hasNextPage backwards) counts the rows beyond the cursor.
    [{ first: 5, after: 'n:3' }, true],
    [{ last: 5, before: 'n:9' }, true],
    [{ before: 'n:9' }, true],
  ])('without totalCount, %j counts: %s', (args, counts) => {
    expect(pageWindow(args, codec, { total: false }).counts).toBe(counts);
    expect(pageWindow(args, codec, { total: true }).counts).toBe(true);
  });

  it.each([
    [{ first: 1, last: 1 }, 'last', 'Pass "first" (to page forwards) or "last" (to page backwards), not both'],
    [{ first: 0 }, 'first', '"first" must be between 1 and 100, got 0'],
    [{ first: 101 }, 'first', '"first" must be between 1 and 100, got 101'],
    [{ last: -1 }, 'last', '"last" must be between 1 and 100, got -1'],
    [{ last: 1.5 }, 'last', '"last" must be between 1 and 100, got 1.5'],
    [{ after: 'x' }, 'after', '"after" is not a cursor this API returned: pass pageInfo.endCursor of the previous page, or an edge\'s cursor'],
    [{ before: 'x' }, 'before', '"before" is not a cursor this API returned: pass pageInfo.startCursor of the next page, or an edge\'s cursor'],
  ])('%j is BAD_USER_INPUT naming %s', (args, field, message) => {
    let error: unknown;
    try {
      pageWindow(args, codec);
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', message, data: { field } });
  });
});

describe('pageOf', () => {
  const read = (rows: number[], counts: { throughAfter?: number; fromBefore?: number } = {}) => ({
    rows,
    total: 10,
    throughAfter: 0,
    fromBefore: 0,
    ...counts,
  });

  it.each([
    // forward: one row more than the size means a next page; rows before `after` mean a previous one.
    ['first page', { first: 3 }, read([1, 2, 3, 4]), { rows: [1, 2, 3], hasNextPage: true, hasPreviousPage: false }],
    ['last forward page', { first: 3, after: 'n:7' }, read([8, 9], { throughAfter: 7 }), { rows: [8, 9], hasNextPage: false, hasPreviousPage: true }],
    ['empty page past the end', { first: 3, after: 'n:10' }, read([], { throughAfter: 10 }), { rows: [], hasNextPage: false, hasPreviousPage: true }],
    // forward up to `before`: the spec's hasNextPage is about the window only.
    ['forward up to before', { first: 5, before: 'n:4' }, read([1, 2, 3], { fromBefore: 7 }), { rows: [1, 2, 3], hasNextPage: false, hasPreviousPage: false }],
    // backward: rows arrive from the end and come out in listing order.
    ['last page', { last: 3 }, read([10, 9, 8, 7]), { rows: [8, 9, 10], hasNextPage: false, hasPreviousPage: true }],
    ['backward page', { last: 3, before: 'n:4' }, read([3, 2, 1], { fromBefore: 7 }), { rows: [1, 2, 3], hasNextPage: true, hasPreviousPage: false }],
  ])('%s', (_name, args, fetched, expected) => {
    const window = pageWindow(args, codec);
    const page = pageOf(window, fetched, codec);
    const { cursor, ...rest } = page;
    expect(rest).toEqual({ ...expected, totalCount: 10 });
    expect(expected.rows.map((_, i) => cursor(i))).toEqual(expected.rows.map((n) => `n:${n}`));
  });
});
