import { Link } from 'wouter';
import { Json } from '../components/Json';
import { StatusBadge } from '../components/StatusBadge';
import { between, duration, time } from '../format';

export interface Attempt {
  attempt: number;
  workerId: string;
  startedAt: string;
  finishedAt: string | null;
  outcome: string | null;
  cause: string | null;
  fault: boolean;
  error: string | null;
}

export interface TaskRow {
  id: string;
  key: string;
  type: string;
  queue: string | null;
  status: string;
  attempt: number;
  failures: number;
  input: unknown;
  output: unknown;
  error: string | null;
  workerId: string | null;
  createdAt: string;
  queuedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  parentTaskId: string | null;
  item: unknown;
  index: number | null;
  itemCount: number | null;
  failedItems: number[] | null;
  childRun: { id: string; status: string; workflow: { name: string } } | null;
  attempts: Attempt[];
}

/** A task's attempts on one time axis: who held each lease, for how long, and how it ended. */
export function AttemptsTimeline({ attempts }: { attempts: Attempt[] }) {
  if (!attempts.length) return <p className="muted">No attempt yet.</p>;
  const now = Date.now();
  const start = Math.min(...attempts.map((a) => Date.parse(a.startedAt)));
  const end = Math.max(...attempts.map((a) => (a.finishedAt ? Date.parse(a.finishedAt) : now)));
  const span = Math.max(end - start, 1);
  return (
    <ol className="timeline">
      {attempts.map((a, i) => {
        const from = Date.parse(a.startedAt);
        const to = a.finishedAt ? Date.parse(a.finishedAt) : now;
        const outcome = a.outcome ?? 'RUNNING';
        return (
          <li key={i} data-outcome={outcome}>
            <span className="attempt-no">#{a.attempt}</span>
            <span className="bar-track">
              <span
                className={`bar o-${outcome.toLowerCase()}`}
                style={{ left: `${((from - start) / span) * 100}%`, width: `${Math.max(((to - from) / span) * 100, 1)}%` }}
              />
            </span>
            <span className="attempt-text">
              <span className="mono">{a.workerId}</span> · {outcome.toLowerCase()}
              {a.cause && a.cause !== 'NONE' ? ` (${a.cause.toLowerCase()}${a.fault ? ', fault' : ''})` : ''} · {duration(to - from)} · {time(a.startedAt)}
              {a.error && <span className="error"> — {a.error}</span>}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

/** The selected task: its state, fan-out items, child run, attempts, input and output. */
export function TaskPanel({ task, items, onSelectItem }: { task: TaskRow; items: TaskRow[]; onSelectItem: (id: string) => void }) {
  return (
    <div className="panel" data-task={task.key}>
      <h2>
        {task.key}
        {task.index != null && <span className="muted"> item {task.index}</span>} <StatusBadge status={task.status} />
      </h2>
      <dl className="facts">
        <dt>type</dt>
        <dd>
          {task.type}
          {task.queue ? ` on queue “${task.queue}”` : ''}
        </dd>
        <dt>attempt</dt>
        <dd>
          {task.attempt} ({task.failures} failed)
        </dd>
        <dt>duration</dt>
        <dd>{between(task.startedAt, task.finishedAt)}</dd>
        {task.workerId && (
          <>
            <dt>worker</dt>
            <dd className="mono">{task.workerId}</dd>
          </>
        )}
        {task.childRun && (
          <>
            <dt>child run</dt>
            <dd>
              <Link href={`/runs/${task.childRun.id}`}>
                {task.childRun.workflow.name} {task.childRun.id.slice(0, 8)}
              </Link>{' '}
              <StatusBadge status={task.childRun.status} />
            </dd>
          </>
        )}
      </dl>
      {task.error && <p className="error">{task.error}</p>}
      {items.length > 0 && (
        <>
          <h3>
            Items ({items.length}
            {task.itemCount != null && task.itemCount !== items.length ? ` of ${task.itemCount}` : ''})
          </h3>
          <div className="items">
            {items.map((it) => (
              <button key={it.id} className={`item s-${it.status.toLowerCase()}`} title={`item ${it.index}: ${it.status}`} onClick={() => onSelectItem(it.id)}>
                {it.index}
              </button>
            ))}
          </div>
        </>
      )}
      <h3>Attempts</h3>
      <AttemptsTimeline attempts={task.attempts} />
      {task.item !== null && task.item !== undefined && <Json label="item" value={task.item} />}
      <Json label="input" value={task.input} />
      <Json label="output" value={task.output} />
    </div>
  );
}
