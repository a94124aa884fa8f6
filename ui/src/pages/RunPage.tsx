import { useMemo, useState } from 'react';
import { Link } from 'wouter';
import { Json } from '../components/Json';
import { StatusBadge } from '../components/StatusBadge';
import { CANCEL_RUN, PAUSE_RUN, RESUME_RUN, RETRY_RUN, RUN, RUN_UPDATED, SIGNAL_RUN } from '../documents';
import { between, time } from '../format';
import { useAction, useLiveRefresh, useQuery } from '../hooks';
import { waitInWords, type WaitReason } from '../waiting';
import { Dag, type DagNodeState, type DagStep } from './Dag';
import { TaskPanel, type TaskRow } from './TaskPanel';

interface RunData {
  run: {
    id: string;
    status: string;
    createdAt: string;
    startedAt: string | null;
    finishedAt: string | null;
    pausedAt: string | null;
    tags: string[];
    error: string | null;
    input: unknown;
    output: unknown;
    metadata: unknown;
    depth: number;
    parent: { id: string; workflow: { name: string } } | null;
    parentTask: { id: string; key: string } | null;
    workflow: { name: string; version: number; steps: (DagStep & { queue: string | null; when: string | null })[] };
    children: { id: string; status: string; workflow: { name: string } }[];
    waitingFor: WaitReason[];
    tasks: TaskRow[];
  } | null;
}

const FINISHED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

export function RunPage({ id }: { id: string }) {
  const q = useQuery<RunData>(RUN, { id });
  const live = useLiveRefresh(RUN_UPDATED, { id, afterSeq: 0 }, q.reload);
  const action = useAction();
  const [selected, setSelected] = useState<{ key: string; taskId: string | null } | null>(null);
  const [signal, setSignal] = useState({ name: '', payload: '' });
  const [signalError, setSignalError] = useState<string | null>(null);
  const run = q.data?.run;

  const { byKey, itemsOf, states } = useMemo(() => {
    const byKey = new Map<string, TaskRow>();
    const itemsOf = new Map<string, TaskRow[]>();
    for (const t of run?.tasks ?? []) {
      if (t.parentTaskId) itemsOf.set(t.parentTaskId, [...(itemsOf.get(t.parentTaskId) ?? []), t]);
      else byKey.set(t.key, t);
    }
    for (const list of itemsOf.values()) list.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    const states = new Map<string, DagNodeState>();
    for (const [key, t] of byKey) {
      const items = itemsOf.get(t.id);
      states.set(key, {
        status: t.status,
        items:
          items || t.itemCount != null
            ? { done: (items ?? []).filter((i) => FINISHED.has(i.status) || i.status === 'SKIPPED').length, total: t.itemCount ?? items!.length }
            : null,
        childRun: t.childRun !== null,
      });
    }
    return { byKey, itemsOf, states };
  }, [run]);

  if (q.error && !run) return <p className="error">{q.error.message}</p>;
  if (!q.data) return <p className="muted">Loading…</p>;
  if (!run) return <p className="error">No run {id} (or it belongs to another tenant).</p>;

  const act = async (query: string) => {
    await action.run(query, { id });
    q.reload();
  };
  const sendSignal = async () => {
    let payload: unknown = null;
    if (signal.payload.trim()) {
      try {
        payload = JSON.parse(signal.payload);
      } catch {
        setSignalError('The payload is not JSON: write e.g. {"approved": true}');
        return;
      }
    }
    setSignalError(null);
    await action.run(SIGNAL_RUN, { id, name: signal.name.trim(), payload });
    q.reload();
  };

  const main = selected ? byKey.get(selected.key) : undefined;
  const shown = selected?.taskId ? run.tasks.find((t) => t.id === selected.taskId) : main;
  const finished = FINISHED.has(run.status);

  return (
    <section className="run" data-run-status={run.status}>
      <h1>
        {run.workflow.name} <span className="muted">v{run.workflow.version}</span> <StatusBadge status={run.status} />{' '}
        <span className={live ? 'live on' : 'live'}>{live ? 'live' : 'offline'}</span>
      </h1>
      <p className="muted mono">{run.id}</p>
      <dl className="facts">
        <dt>created</dt>
        <dd>{time(run.createdAt)}</dd>
        <dt>duration</dt>
        <dd>{between(run.startedAt, run.finishedAt)}</dd>
        {run.parent && (
          <>
            <dt>parent</dt>
            <dd>
              <Link href={`/runs/${run.parent.id}`}>
                {run.parent.workflow.name} {run.parent.id.slice(0, 8)}
              </Link>
              {run.parentTask ? ` (step “${run.parentTask.key}”)` : ''}
            </dd>
          </>
        )}
        {run.tags.length > 0 && (
          <>
            <dt>tags</dt>
            <dd>
              {run.tags.map((t) => (
                <span key={t} className="tag">
                  {t}
                </span>
              ))}
            </dd>
          </>
        )}
      </dl>
      {run.error && <p className="error">{run.error}</p>}

      <div className="toolbar actions">
        <button disabled={finished || action.busy} onClick={() => void act(CANCEL_RUN)}>
          Cancel run
        </button>
        <button disabled={!['FAILED', 'CANCELLED'].includes(run.status) || action.busy} onClick={() => void act(RETRY_RUN)}>
          Retry
        </button>
        <button disabled={!['PENDING', 'RUNNING'].includes(run.status) || action.busy} onClick={() => void act(PAUSE_RUN)}>
          Pause
        </button>
        <button disabled={run.status !== 'PAUSED' || action.busy} onClick={() => void act(RESUME_RUN)}>
          Resume
        </button>
        <form
          className="signal"
          onSubmit={(e) => {
            e.preventDefault();
            void sendSignal();
          }}
        >
          <input aria-label="signal name" placeholder="signal name" value={signal.name} onChange={(e) => setSignal({ ...signal, name: e.target.value })} />
          <input
            aria-label="signal payload"
            placeholder='payload JSON, e.g. {"ok": true}'
            value={signal.payload}
            onChange={(e) => setSignal({ ...signal, payload: e.target.value })}
          />
          <button type="submit" disabled={finished || !signal.name.trim() || action.busy}>
            Send signal
          </button>
        </form>
        {(signalError ?? action.error) && <span className="error">{signalError ?? action.error?.message}</span>}
      </div>

      {run.waitingFor.length > 0 && (
        <div className="waiting">
          <h3>Waiting for</h3>
          <ul>
            {run.waitingFor.map((w) => (
              <li key={`${w.taskId}-${w.kind}`}>{waitInWords(w)}</li>
            ))}
          </ul>
        </div>
      )}

      <div className="dag-wrap">
        <Dag steps={run.workflow.steps} states={states} selected={selected?.key ?? null} onSelect={(key) => setSelected({ key, taskId: null })} />
      </div>

      {shown ? (
        <TaskPanel task={shown} items={main ? (itemsOf.get(main.id) ?? []) : []} onSelectItem={(taskId) => setSelected((s) => s && { ...s, taskId })} />
      ) : (
        <p className="muted">Select a step to see its attempts, input and output.</p>
      )}

      {run.children.length > 0 && (
        <>
          <h3>Child runs</h3>
          <ul>
            {run.children.map((c) => (
              <li key={c.id}>
                <Link href={`/runs/${c.id}`}>
                  {c.workflow.name} {c.id.slice(0, 8)}
                </Link>{' '}
                <StatusBadge status={c.status} />
              </li>
            ))}
          </ul>
        </>
      )}
      <div className="io">
        <Json label="run input" value={run.input} />
        <Json label="run output" value={run.output} />
      </div>
    </section>
  );
}
