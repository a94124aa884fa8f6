import { Graph, layout } from '@dagrejs/dagre';
import { useMemo } from 'react';

export interface DagStep {
  key: string;
  type: string;
  dependsOn: string[];
  forEach: string | null;
}

export interface DagNodeState {
  status: string;
  /** Fan-out: items done / all; null for a plain step. */
  items: { done: number; total: number } | null;
  childRun: boolean;
}

const NODE_W = 170;
const NODE_H = 48;

/** The run's steps laid out by dagre (left to right), each coloured by its task's live state. */
export function Dag({
  steps,
  states,
  selected,
  onSelect,
}: {
  steps: DagStep[];
  states: Map<string, DagNodeState>;
  selected: string | null;
  onSelect: (key: string) => void;
}) {
  const laid = useMemo(() => {
    const g = new Graph();
    g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 56, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const s of steps) g.setNode(s.key, { width: NODE_W, height: NODE_H });
    for (const s of steps) for (const d of s.dependsOn) if (g.hasNode(d)) g.setEdge(d, s.key);
    layout(g);
    const graph = g.graph();
    return {
      width: Math.max(graph.width ?? 0, NODE_W + 24),
      height: Math.max(graph.height ?? 0, NODE_H + 24),
      nodes: steps.map((s) => ({ step: s, ...(g.node(s.key) as { x: number; y: number }) })),
      edges: g.edges().map((e) => ({ id: `${e.v}->${e.w}`, points: (g.edge(e) as { points: { x: number; y: number }[] }).points })),
    };
  }, [steps]);

  return (
    <svg className="dag" width={laid.width} height={laid.height} viewBox={`0 0 ${laid.width} ${laid.height}`} role="img" aria-label="run DAG">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" className="arrowhead" />
        </marker>
      </defs>
      {laid.edges.map((e) => (
        <path key={e.id} className="edge" markerEnd="url(#arrow)" d={e.points.map((p, i) => `${i ? 'L' : 'M'} ${p.x} ${p.y}`).join(' ')} />
      ))}
      {laid.nodes.map(({ step, x, y }) => {
        const state = states.get(step.key);
        const status = (state?.status ?? 'PENDING').toLowerCase();
        return (
          <g
            key={step.key}
            className={`node s-${status}${selected === step.key ? ' selected' : ''}`}
            data-step={step.key}
            data-status={state?.status ?? 'PENDING'}
            transform={`translate(${x - NODE_W / 2}, ${y - NODE_H / 2})`}
            onClick={() => onSelect(step.key)}
            tabIndex={0}
            onKeyDown={(e) => e.key === 'Enter' && onSelect(step.key)}
          >
            <rect width={NODE_W} height={NODE_H} rx={6} />
            <text x={10} y={19} className="node-key">
              {step.key.length > 20 ? `${step.key.slice(0, 19)}…` : step.key}
            </text>
            <text x={10} y={36} className="node-sub">
              {step.type} · {status}
              {state?.items ? ` · ${state.items.done}/${state.items.total}` : ''}
              {state?.childRun ? ' · child ↗' : ''}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
