import { useMemo, useState } from 'react';
import { Link, useSearch } from 'wouter';
import { CANCEL_RUN, CANCEL_RUNS, RUN_EVENTS, RUNS } from '../documents';
import { ago, between } from '../format';
import { useAction, useLiveRefresh, useQuery } from '../hooks';
import { StatusBadge } from '../components/StatusBadge';
import { toRunFilter, type Filters } from '../filters';

export const RUN_STATUSES = ['PENDING', 'RUNNING', 'PAUSED', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
const UNFINISHED = new Set(['PENDING', 'RUNNING', 'PAUSED']);
const PAGE = 20;

interface RunRow {
  id: string;
  status: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  tags: string[];
  error: string | null;
  workflow: { name: string; version: number };
}

interface RunsData {
  runs: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
    nodes: RunRow[];
  };
}

type Page = { first: number; after?: string } | { last: number; before: string };

export function RunsPage() {
  const search = useSearch();
  const [form, setForm] = useState<Filters>(() => ({
    workflow: new URLSearchParams(search).get('workflow') ?? '',
    status: [],
    createdAfter: '',
    createdBefore: '',
    tags: '',
  }));
  const [applied, setApplied] = useState<Filters>(form);
  const [page, setPage] = useState<Page>({ first: PAGE });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const filter = useMemo(() => toRunFilter(applied), [applied]);
  const runs = useQuery<RunsData>(RUNS, { filter, ...page });
  const live = useLiveRefresh(RUN_EVENTS, applied.workflow.trim() ? { workflow: applied.workflow.trim() } : {}, runs.reload);
  const action = useAction();
  const data = runs.data?.runs;

  const toggleStatus = (s: string) => setForm((f) => ({ ...f, status: f.status.includes(s) ? f.status.filter((x) => x !== s) : [...f.status, s] }));

  const cancelSelected = async () => {
    for (const id of selected) await action.run(CANCEL_RUN, { id });
    setSelected(new Set());
    runs.reload();
  };
  const cancelMatching = async () => {
    if (!Object.keys(filter).length) return;
    if (!window.confirm('Cancel every unfinished run matching these filters?')) return;
    await action.run(CANCEL_RUNS, { filter, reason: 'Cancelled from the console' });
    runs.reload();
  };

  return (
    <section>
      <h1>
        Runs <span className={live ? 'live on' : 'live'}>{live ? 'live' : 'offline'}</span>
      </h1>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(form);
          setPage({ first: PAGE });
          setSelected(new Set());
        }}
      >
        <label>
          Workflow <input name="workflow" value={form.workflow} onChange={(e) => setForm({ ...form, workflow: e.target.value })} placeholder="any" />
        </label>
        <fieldset>
          {RUN_STATUSES.map((s) => (
            <label key={s} className="check">
              <input type="checkbox" checked={form.status.includes(s)} onChange={() => toggleStatus(s)} /> {s.toLowerCase()}
            </label>
          ))}
        </fieldset>
        <label>
          Created after <input type="datetime-local" value={form.createdAfter} onChange={(e) => setForm({ ...form, createdAfter: e.target.value })} />
        </label>
        <label>
          before <input type="datetime-local" value={form.createdBefore} onChange={(e) => setForm({ ...form, createdBefore: e.target.value })} />
        </label>
        <label>
          Tags <input name="tags" value={form.tags} onChange={(e) => setForm({ ...form, tags: e.target.value })} placeholder="a, b" />
        </label>
        <button type="submit">Filter</button>
      </form>

      <div className="toolbar">
        <span className="muted">{data ? `${data.totalCount} runs` : ''}</span>
        <button disabled={!selected.size || action.busy} onClick={() => void cancelSelected()}>
          Cancel selected ({selected.size})
        </button>
        <button disabled={!Object.keys(filter).length || action.busy} onClick={() => void cancelMatching()} title="cancelRuns with these filters">
          Cancel all matching
        </button>
        {action.error && <span className="error">{action.error.message}</span>}
      </div>
      {runs.error && <p className="error">{runs.error.message}</p>}

      <table className="runs">
        <thead>
          <tr>
            <th />
            <th>Run</th>
            <th>Workflow</th>
            <th>Status</th>
            <th>Created</th>
            <th>Duration</th>
            <th>Tags</th>
          </tr>
        </thead>
        <tbody>
          {data?.nodes.map((r) => (
            <tr key={r.id} data-run-id={r.id} data-status={r.status}>
              <td>
                <input
                  type="checkbox"
                  aria-label={`select ${r.id}`}
                  disabled={!UNFINISHED.has(r.status)}
                  checked={selected.has(r.id)}
                  onChange={() =>
                    setSelected((s) => {
                      const next = new Set(s);
                      if (!next.delete(r.id)) next.add(r.id);
                      return next;
                    })
                  }
                />
              </td>
              <td>
                <Link href={`/runs/${r.id}`} className="mono">
                  {r.id.slice(0, 8)}
                </Link>
              </td>
              <td>
                {r.workflow.name} <span className="muted">v{r.workflow.version}</span>
              </td>
              <td>
                <StatusBadge status={r.status} />
              </td>
              <td title={r.createdAt}>{ago(r.createdAt)}</td>
              <td>{between(r.startedAt, r.finishedAt)}</td>
              <td>
                {r.tags.map((t) => (
                  <span key={t} className="tag">
                    {t}
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && !data.nodes.length && <p className="muted">No runs match.</p>}
      <div className="pager">
        <button
          disabled={!data?.pageInfo.hasPreviousPage}
          onClick={() => data?.pageInfo.startCursor && setPage({ last: PAGE, before: data.pageInfo.startCursor })}
        >
          ← Newer
        </button>
        <button disabled={!data?.pageInfo.hasNextPage} onClick={() => data?.pageInfo.endCursor && setPage({ first: PAGE, after: data.pageInfo.endCursor })}>
          Older →
        </button>
      </div>
    </section>
  );
}
