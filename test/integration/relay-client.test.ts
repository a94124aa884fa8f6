import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { filter as rxFilter, firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * The runs connection as a Relay client pages it: Apollo Client's `relayStylePagination` merges
 * pages by their cursors and pageInfo, so this is the test that the API keeps the spec's promises
 * (edges in order, cursors that continue exactly, hasNextPage / hasPreviousPage on the right side).
 */

const RUNS = gql`
  query Runs($filter: RunFilter, $first: Int, $after: String, $last: Int, $before: String) {
    runs(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      edges {
        cursor
        node {
          id
          status
        }
      }
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
      totalCount
    }
  }
`;

interface RunsData {
  runs: {
    edges: { cursor: string; node: { id: string; status: string } }[];
    pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
    totalCount: number;
  };
}

describe('runs with Apollo Client relayStylePagination', () => {
  let t: TestApp;
  let key: string;
  /** Every run of the tenant, newest first, read in one page: what paging must reassemble. */
  let expected: string[];

  const client = () =>
    new ApolloClient({
      link: new HttpLink({ uri: t.app.url, headers: { authorization: `Bearer ${key}` } }),
      cache: new InMemoryCache({ typePolicies: { Query: { fields: { runs: relayStylePagination(['filter']) } } } }),
    });

  /** Watches a query (as a UI would) and resolves with its first complete result. */
  const watch = async (apollo: ApolloClient, variables: Record<string, unknown>) => {
    const query = apollo.watchQuery<RunsData>({ query: RUNS, variables });
    const subscription = query.subscribe(() => undefined);
    const first = await firstValueFrom(query.pipe(rxFilter((r) => r.dataState === 'complete')));
    return { query, data: first.data as RunsData | undefined, stop: () => subscription.unsubscribe() };
  };

  /** The watched query's data as the cache now holds it, pages merged by relayStylePagination's read. */
  const merged = (apollo: ApolloClient, query: { variables: Record<string, unknown> }) =>
    apollo.readQuery<RunsData>({ query: RUNS, variables: query.variables }) ?? undefined;

  beforeAll(async () => {
    t = await startTestApp();
    key = (await t.app.services.auth.createKey('apollo')).key;
    await t.ok(
      `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`,
      { input: { name: 'paged', steps: [{ key: 'remote', type: 'work', queue: 'nobody-listens' }] } },
      key,
    );
    for (let i = 0; i < 13; i++) await t.ok(`mutation { startRun(workflow: "paged") { id } }`, undefined, key);
    const { runs } = await t.ok(`{ runs(first: 100) { nodes { id } } }`, undefined, key);
    expected = runs.nodes.map((n: { id: string }) => n.id);
    expect(expected).toHaveLength(13);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('pages forwards with fetchMore({ after: endCursor }) until hasNextPage is false', async () => {
    const apollo = client();
    const { query, stop, data: firstPage } = await watch(apollo, { first: 5 });
    let data = firstPage;
    expect(data?.runs.edges).toHaveLength(5);
    expect(data?.runs.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    for (let i = 0; data?.runs.pageInfo.hasNextPage && i < 10; i++) {
      await query.fetchMore({ variables: { after: data.runs.pageInfo.endCursor } });
      data = merged(apollo, query);
    }
    expect(data?.runs.edges.map((e) => e.node.id)).toEqual(expected);
    expect(data?.runs.pageInfo).toMatchObject({
      hasNextPage: false,
      hasPreviousPage: false,
      startCursor: data?.runs.edges[0]?.cursor,
      endCursor: data?.runs.edges[12]?.cursor,
    });
    expect(data?.runs.totalCount).toBe(13);
    stop();
    apollo.stop();
  });

  it('pages backwards with fetchMore({ before: startCursor }) from the oldest runs until hasPreviousPage is false', async () => {
    const apollo = client();
    const { query, stop, data: firstPage } = await watch(apollo, { last: 5 });
    let data = firstPage;
    expect(data?.runs.edges.map((e) => e.node.id)).toEqual(expected.slice(-5));
    expect(data?.runs.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    for (let i = 0; data?.runs.pageInfo.hasPreviousPage && i < 10; i++) {
      await query.fetchMore({ variables: { before: data.runs.pageInfo.startCursor } });
      data = merged(apollo, query);
    }
    expect(data?.runs.edges.map((e) => e.node.id)).toEqual(expected);
    expect(data?.runs.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false });
    stop();
    apollo.stop();
  });

  it('keeps a filtered listing apart from the unfiltered one (keyArgs: filter)', async () => {
    const apollo = client();
    const filter = { status: ['PENDING'], workflow: 'paged' };
    const { query, stop, data: firstPage } = await watch(apollo, { filter, first: 10 });
    let data = firstPage;
    await query.fetchMore({ variables: { filter, after: data?.runs.pageInfo.endCursor } });
    data = merged(apollo, query);
    expect(data?.runs.edges.map((e) => e.node.id)).toEqual(expected);
    expect(apollo.readQuery<RunsData>({ query: RUNS, variables: { first: 10 } })).toBeNull();
    stop();
    apollo.stop();
  });
});
