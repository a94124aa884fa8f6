import { Field, ObjectType } from 'type-graphql';
import type { Page } from '../../services/pagination';

@ObjectType({
  simpleResolvers: true,
  description:
    'Where a page sits in its listing (a Relay cursor connection). Cursors are opaque strings; they stay valid while items are added, ' +
    'so paging on neither repeats nor skips an item.',
})
export class PageInfo {
  @Field({
    description:
      'Items follow the last one of this page: fetch them with `first` and `after: endCursor`. ' +
      'When paging backwards (`last`), true only if items follow `before`.',
  })
  hasNextPage: boolean;

  @Field({
    description:
      'Items precede the first one of this page: fetch them with `last` and `before: startCursor`. ' +
      'When paging forwards (`first`), true only if items precede `after`.',
  })
  hasPreviousPage: boolean;

  @Field(() => String, {
    nullable: true,
    description: 'Cursor of the first item of this page: pass it as `before` to page backwards. Null when the page is empty.',
  })
  startCursor: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Cursor of the last item of this page: pass it as `after` to page forwards. Null when the page is empty.',
  })
  endCursor: string | null;
}

/** A connection's fields from a service page: `nodes` and `edges` hold the same items in the same order. */
export function toConnection<Row, Node>(
  page: Page<Row>,
  toNode: (row: Row) => Node,
): { nodes: Node[]; edges: { cursor: string; node: Node }[]; pageInfo: PageInfo; totalCount: number } {
  const nodes = page.rows.map(toNode);
  // Edges and cursors are built only when the operation selects them (getters: the fields resolve by property).
  return {
    nodes,
    get edges() {
      return nodes.map((node, i) => ({ cursor: page.cursor(i), node }));
    },
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      get startCursor() {
        return nodes.length ? page.cursor(0) : null;
      },
      get endCursor() {
        return nodes.length ? page.cursor(nodes.length - 1) : null;
      },
    },
    totalCount: page.totalCount,
  };
}
