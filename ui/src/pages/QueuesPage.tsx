import { QUEUES } from '../documents';
import { ago, duration } from '../format';
import { useQuery } from '../hooks';
import { useEffect } from 'react';

interface QueuesData {
  queues: {
    name: string | null;
    depth: number;
    running: number;
    oldestQueuedAt: string | null;
    lastPolledAt: string | null;
    lastPollWorkerId: string | null;
    workers: { workerId: string; tasks: number; lastStartedAt: string }[];
  }[];
}

/** Refreshes every few seconds: queue depth has no subscription. */
const REFRESH_MS = 5_000;

export function QueuesPage() {
  const q = useQuery<QueuesData>(QUEUES);
  useEffect(() => {
    const t = setInterval(q.reload, REFRESH_MS);
    return () => clearInterval(t);
  }, [q.reload]);
  const now = Date.now();
  return (
    <section>
      <h1>Queues</h1>
      {q.error && <p className="error">{q.error.message}</p>}
      <table>
        <thead>
          <tr>
            <th>Queue</th>
            <th>Depth</th>
            <th>Running</th>
            <th>Oldest waiting</th>
            <th>Last poll</th>
            <th>Workers holding tasks</th>
          </tr>
        </thead>
        <tbody>
          {q.data?.queues.map((x) => (
            <tr key={x.name ?? '(built-in)'} data-queue={x.name ?? ''}>
              <td>{x.name ?? <span className="muted">built-in steps</span>}</td>
              <td>{x.depth}</td>
              <td>{x.running}</td>
              <td>{x.oldestQueuedAt ? duration(now - Date.parse(x.oldestQueuedAt)) : '—'}</td>
              <td>{x.lastPolledAt ? `${ago(x.lastPolledAt, now)} by ${x.lastPollWorkerId}` : x.name ? 'never polled' : '—'}</td>
              <td>
                {x.workers.map((w) => (
                  <div key={w.workerId} className="mono">
                    {w.workerId} ({w.tasks}, last started {ago(w.lastStartedAt, now)})
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {q.data && !q.data.queues.length && <p className="muted">No queue holds work and no worker has polled yet.</p>}
    </section>
  );
}
