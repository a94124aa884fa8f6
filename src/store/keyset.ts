/**
 * What a keyset-paginated listing reads: the rows strictly between two positions of its order,
 * `limit` of them, from the `after` end (forward) or the `before` end (backward). A store answers
 * with the rows in reading order and with the counts a page needs to tell its neighbours.
 */
export interface KeysetWindow<K> {
  /** forward: from just after `after` in listing order; backward: from just before `before`, in reverse. */
  direction: 'forward' | 'backward';
  /** Rows to read at most (a page reads one more than it shows, to learn whether more follow). */
  limit: number;
  /** Exclusive; null: the start of the listing. */
  after: K | null;
  /** Exclusive; null: the end of the listing. */
  before: K | null;
  /**
   * Whether the read must count (`total`, `throughAfter`, `fromBefore`); false: nobody asked for
   * the total and the page needs no count to tell its neighbours, so a store may skip the count
   * statement (a full scan of the filtered rows) and answer 0s. @default true
   */
  counts?: boolean;
}

export interface KeysetRead<Row> {
  /** In reading order: listing order forward, reverse listing order backward. */
  rows: Row[];
  /** Rows of the whole listing (every page). */
  total: number;
  /** Rows of the listing at or before `after` (0 without `after`). */
  throughAfter: number;
  /** Rows of the listing at or after `before` (0 without `before`). */
  fromBefore: number;
}
