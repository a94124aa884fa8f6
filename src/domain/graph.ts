/**
 * The graph of a workflow's steps, numbered by declaration index: building it, Kahn's order, the
 * cycle a failed order hides, and each step's ancestors as bitsets. Pure; dag.ts validates and
 * step-order.ts orders definitions with it.
 */
import { ValidationError } from './errors';
import type { StepDefinition } from './glossary';

export interface Graph {
  keys: string[];
  /** deps[i]: indexes i depends on, de-duplicated, in dependsOn order. */
  deps: number[][];
  /** dependents[i]: indexes that depend on i. */
  dependents: number[][];
}

export function buildGraph(steps: readonly StepDefinition[]): Graph {
  const keys = steps.map((s) => s.key);
  const index = new Map(keys.map((k, i) => [k, i]));
  const dependents: number[][] = keys.map(() => []);
  const deps = steps.map((step, i) => {
    const mine = [...new Set(dependsOnOf(step))].map((dep) => {
      const j = index.get(dep);
      if (j === undefined) {
        throw new ValidationError(`Step "${step.key}" depends on ${quote(dep)}, which is not a step`, {
          reason: 'UNKNOWN_DEPENDENCY',
          step: step.key,
          dependency: dep,
        });
      }
      return j;
    });
    for (const j of mine) dependents[j].push(i);
    return mine;
  });
  return { keys, deps, dependents };
}

/** Kahn's algorithm, always taking the lowest ready index. Shorter than n when there is a cycle. */
export function kahn(graph: Graph): number[] {
  const waitingOn = graph.deps.map((d) => d.length);
  // Sorted descending so the lowest index pops from the end; inserts are O(n), and n <= 1000.
  const ready = waitingOn.flatMap((n, i) => (n === 0 ? [i] : [])).reverse();
  const order: number[] = [];
  while (ready.length > 0) {
    const i = ready.pop() as number;
    order.push(i);
    for (const j of graph.dependents[i]) {
      if (--waitingOn[j] === 0) ready.splice(insertionPoint(ready, j), 0, j);
    }
  }
  return order;
}

function insertionPoint(descending: number[], value: number): number {
  let lo = 0;
  let hi = descending.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (descending[mid] > value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A cycle among the steps Kahn could not order, as keys along dependsOn edges, first key repeated
 * last. Every such step waits on another such step, so walking "first unordered dependency" from
 * the first unordered step must revisit a step. The cycle is rotated to start at its earliest
 * declared step, so the same definition always reports the same path.
 */
export function findCycle(graph: Graph, ordered: number[]): string[] {
  const done = new Set(ordered);
  const start = graph.keys.findIndex((_, i) => !done.has(i));
  const seenAt = new Map<number, number>();
  const walk: number[] = [];
  let at = start;
  while (!seenAt.has(at)) {
    seenAt.set(at, walk.length);
    walk.push(at);
    at = graph.deps[at].find((j) => !done.has(j)) as number;
  }
  const cycle = walk.slice(seenAt.get(at));
  const first = cycle.indexOf(Math.min(...cycle));
  const rotated = [...cycle.slice(first), ...cycle.slice(0, first)];
  return [...rotated, rotated[0]].map((i) => graph.keys[i]);
}

export function cycleText(path: string[]): string {
  return `${path.join(' → ')} (each step depends on the next); remove one of these dependsOn entries`;
}

/**
 * ancestry[i]: bitset of every transitive dependency of step i (bit j set: j is an ancestor).
 * Bitsets because a dense DAG of 1000 steps has ~500k edges: OR-ing 32 words per edge is ~16M
 * operations, where merging Sets could cost ~250M. Needs a complete topological order.
 */
export function ancestorSets(graph: Graph, order: number[]): Bitset[] {
  const words = Math.ceil(graph.keys.length / 32);
  const ancestry = graph.keys.map(() => new Bitset(words));
  for (const i of order) {
    const mine = ancestry[i];
    for (const j of graph.deps[i]) {
      mine.add(j);
      mine.addAll(ancestry[j]);
    }
  }
  return ancestry;
}

class Bitset {
  private readonly bits: Uint32Array;
  constructor(words: number) {
    this.bits = new Uint32Array(words);
  }
  add(i: number): void {
    this.bits[i >>> 5] |= 1 << (i & 31);
  }
  addAll(other: Bitset): void {
    for (let w = 0; w < this.bits.length; w++) this.bits[w] |= other.bits[w];
  }
  has(i: number): boolean {
    return (this.bits[i >>> 5] & (1 << (i & 31))) !== 0;
  }
}

export function dependsOnOf(step: StepDefinition): string[] {
  return Array.isArray(step.dependsOn) ? step.dependsOn : [];
}

/** Quotes a user value for a message as JSON, cut at 100 characters so a huge value stays readable. */
export function quote(value: unknown): string {
  const text = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}
