import { diffLines } from 'diff';
import { useState } from 'react';
import { Link } from 'wouter';
import { Json } from '../components/Json';
import { WORKFLOW, WORKFLOWS } from '../documents';
import { ago, time } from '../format';
import { useQuery } from '../hooks';

interface WorkflowsData {
  workflows: {
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    nodes: { id: string; name: string; version: number; description: string | null; createdAt: string }[];
  };
}

interface WorkflowDef {
  id: string;
  name: string;
  version: number;
  description: string | null;
  createdAt: string;
  [field: string]: unknown;
}

export function WorkflowsPage() {
  const [after, setAfter] = useState<string | undefined>(undefined);
  const q = useQuery<WorkflowsData>(WORKFLOWS, { first: 50, after });
  return (
    <section>
      <h1>Workflows</h1>
      {q.error && <p className="error">{q.error.message}</p>}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Latest version</th>
            <th>Registered</th>
            <th>Description</th>
          </tr>
        </thead>
        <tbody>
          {q.data?.workflows.nodes.map((w) => (
            <tr key={w.id}>
              <td>
                <Link href={`/workflows/${encodeURIComponent(w.name)}`}>{w.name}</Link>
              </td>
              <td>v{w.version}</td>
              <td title={w.createdAt}>{ago(w.createdAt)}</td>
              <td className="muted">{w.description}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="pager">
        <button disabled={!after} onClick={() => setAfter(undefined)}>
          First page
        </button>
        <button disabled={!q.data?.workflows.pageInfo.hasNextPage} onClick={() => setAfter(q.data?.workflows.pageInfo.endCursor ?? undefined)}>
          Next →
        </button>
      </div>
    </section>
  );
}

const IDENTITY = new Set(['id', 'createdAt', 'version']);

/** The definition as the diff compares it: what a version defines, without its identity. */
function definitionText(w: WorkflowDef | null | undefined): string {
  if (!w) return '';
  const definition = Object.fromEntries(Object.entries(w).filter(([field]) => !IDENTITY.has(field)));
  return JSON.stringify(definition, null, 2) + '\n';
}

export function WorkflowPage({ name }: { name: string }) {
  const latest = useQuery<{ workflow: WorkflowDef | null }>(WORKFLOW, { name });
  const top = latest.data?.workflow?.version ?? 0;
  const [picked, setPicked] = useState<number | null>(null);
  const [against, setAgainst] = useState<number | null>(null);
  const version = picked ?? top;
  const base = against ?? Math.max(version - 1, 1);
  const shown = useQuery<{ workflow: WorkflowDef | null }>(WORKFLOW, { name, version: version || undefined });
  const other = useQuery<{ workflow: WorkflowDef | null }>(WORKFLOW, { name, version: base || undefined });

  if (latest.error) return <p className="error">{latest.error.message}</p>;
  if (!latest.data) return <p className="muted">Loading…</p>;
  if (!latest.data.workflow) return <p className="error">No workflow “{name}”.</p>;
  const versions = Array.from({ length: top }, (_, i) => top - i);
  const def = shown.data?.workflow;
  const parts = diffLines(definitionText(other.data?.workflow), definitionText(def));

  return (
    <section>
      <h1>
        {name} <span className="muted">{top} version(s)</span>
      </h1>
      <p>
        <Link href={`/runs?workflow=${encodeURIComponent(name)}`}>Runs of this workflow</Link>
      </p>
      <div className="toolbar">
        <label>
          Version{' '}
          <select aria-label="version" value={version} onChange={(e) => setPicked(Number(e.target.value))}>
            {versions.map((v) => (
              <option key={v} value={v}>
                v{v}
              </option>
            ))}
          </select>
        </label>
        <label>
          compared with{' '}
          <select aria-label="compare with" value={base} onChange={(e) => setAgainst(Number(e.target.value))}>
            {versions.map((v) => (
              <option key={v} value={v}>
                v{v}
              </option>
            ))}
          </select>
        </label>
        {def && <span className="muted">registered {time(def.createdAt)}</span>}
      </div>
      <div className="two">
        <div>{def && <Json label={`definition v${def.version}`} value={JSON.parse(definitionText(def))} />}</div>
        <div className="json">
          <div className="json-head">
            <span>
              diff v{base} → v{version}
            </span>
          </div>
          <pre className="diff" data-testid="diff">
            {base === version
              ? 'Pick two different versions.'
              : parts.map((p, i) => (
                  <span key={i} className={p.added ? 'add' : p.removed ? 'del' : 'same'}>
                    {p.value
                      .replace(/\n$/, '')
                      .split('\n')
                      .map((l) => `${p.added ? '+ ' : p.removed ? '- ' : '  '}${l}`)
                      .join('\n') + '\n'}
                  </span>
                ))}
          </pre>
        </div>
      </div>
    </section>
  );
}
