/**
 * Relay cursor connections (relay.dev/graphql/connections.htm) minus the GraphQL: which slice of
 * a listing `first`/`after`/`last`/`before` ask for, checked once for every listing, and what the
 * page then says about its neighbours. Stores read the slice (`KeysetWindow`); cursors are each
 * listing's own (`CursorCodec`).
 */
import { ValidationError } from '../domain/errors';
import type { KeysetRead, KeysetWindow } from '../store/keyset';

/** Page size when neither `first` nor `last` is given. */
export const DEFAULT_PAGE_SIZE = 20;
/** Largest `first` or `last`: a page is one statement, and 100 rows keep it within a few ms. */
export const MAX_PAGE_SIZE = 100;

/** The connection arguments as a client sends them. */
export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** A listing's cursors: opaque strings for clients, positions (`K`) for its store. */
export interface CursorCodec<Row, K> {
  encode(row: Row): string;
  /** null when the string is not a cursor this codec made. */
  decode(cursor: string): K | null;
}

/** One page of a listing, in listing order, with a cursor per row. */
export interface Page<Row> {
  rows: Row[];
  /**
   * The cursor of `rows[i]`, encoded when asked: a read of nine pages of 100 runs that selects
   * no cursor encoded 900 of them (4 % of its blocking time, bench scenario 7).
   */
  cursor(i: number): string;
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  /** 0 when not counted (the window's `counts` false: nobody asked). */
  totalCount: number;
}

export type PageWindow<K> = KeysetWindow<K> & { size: number };

/**
 * The slice the arguments ask for. Forward unless `last` is given, or `before` is given without
 * `first` (then the `DEFAULT_PAGE_SIZE` items just before it). An empty cursor counts as none,
 * as it always has for `after`.
 *
 * @throws ValidationError (BAD_USER_INPUT, `field` names the argument) for `first` with `last`,
 *   a size outside 1..MAX_PAGE_SIZE, or a cursor the codec did not make.
 */
export function pageWindow<K>(
  args: PageArgs,
  codec: Pick<CursorCodec<unknown, K>, 'decode'>,
  /** Whether the caller shows `totalCount` (when false a page past no cursor needs no count). @default true */
  opts: { total?: boolean } = {},
): PageWindow<K> {
  const { first, last } = args;
  if (first != null && last != null) {
    throw new ValidationError('Pass "first" (to page forwards) or "last" (to page backwards), not both', { field: 'last' });
  }
  checkSize('first', first);
  checkSize('last', last);
  const after = args.after ? decodeCursor('after', args.after, codec) : null;
  const before = args.before ? decodeCursor('before', args.before, codec) : null;
  const backward = last != null || (first == null && before !== null);
  const size = first ?? last ?? DEFAULT_PAGE_SIZE;
  // hasPreviousPage forwards (and hasNextPage backwards) count the rows beyond the cursor.
  const counts = opts.total !== false || (backward ? before !== null : after !== null);
  return { direction: backward ? 'backward' : 'forward', size, limit: size + 1, after, before, counts };
}

/**
 * The page from what the store read (up to `size + 1` rows in reading order). As the spec has it:
 * paging forwards, `hasNextPage` says whether more rows follow within the window and
 * `hasPreviousPage` whether any precede `after`; backwards, the mirror image.
 */
export function pageOf<Row, K>(window: PageWindow<K>, read: KeysetRead<Row>, codec: Pick<CursorCodec<NoInfer<Row>, K>, 'encode'>): Page<Row> {
  const more = read.rows.length > window.size;
  const shown = read.rows.slice(0, window.size);
  const rows = window.direction === 'forward' ? shown : shown.reverse();
  const forward = window.direction === 'forward';
  return {
    rows,
    cursor: (i) => codec.encode(rows[i]!),
    hasNextPage: forward ? more : window.before !== null && read.fromBefore > 0,
    hasPreviousPage: forward ? window.after !== null && read.throughAfter > 0 : more,
    totalCount: read.total,
  };
}

function checkSize(field: 'first' | 'last', value: number | null | undefined): void {
  if (value == null) return;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw new ValidationError(`"${field}" must be between 1 and ${MAX_PAGE_SIZE}, got ${value}`, { field });
  }
}

function decodeCursor<K>(field: 'after' | 'before', cursor: string, codec: Pick<CursorCodec<unknown, K>, 'decode'>): K {
  const key = codec.decode(cursor);
  if (key === null) {
    const where = field === 'after' ? 'pageInfo.endCursor of the previous page' : 'pageInfo.startCursor of the next page';
    throw new ValidationError(`"${field}" is not a cursor this API returned: pass ${where}, or an edge's cursor`, { field, cursor });
  }
  return key;
}
