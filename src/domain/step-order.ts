/**
 * Orders of a validated definition's steps: topological, roots, leaves, and the ancestors of a
 * step (whose outputs its templates may read). Pure; dag.ts validates what these order.
 */
import { ValidationError } from './errors';
import type { WorkflowDefinition } from './glossary';
import { ancestorSets, buildGraph, cycleText, findCycle, kahn, quote } from './graph';

/**
 * Step keys in an order where every step comes after its dependencies (Kahn's algorithm). Among
 * steps ready at the same time the earliest declared goes first, so a declaration order that is
 * already topological comes back unchanged.
 *
 * @throws ValidationError (`CYCLE` or `UNKNOWN_DEPENDENCY`) if the definition was not validated.
 */
export function topologicalOrder(definition: WorkflowDefinition): string[] {
  const graph = buildGraph(definition.steps);
  const order = kahn(graph);
  if (order.length < graph.keys.length) {
    const path = findCycle(graph, order);
    throw new ValidationError(`The steps have a dependency cycle: ${cycleText(path)}`, { reason: 'CYCLE', path });
  }
  return order.map((i) => graph.keys[i]);
}

/** Steps without dependencies, in declaration order: what a run queues first. */
export function roots(definition: WorkflowDefinition): string[] {
  return definition.steps.filter((s) => s.dependsOn.length === 0).map((s) => s.key);
}

/** Steps nothing depends on, in declaration order: a run is done when these are. */
export function leaves(definition: WorkflowDefinition): string[] {
  const depended = new Set(definition.steps.flatMap((s) => s.dependsOn));
  return definition.steps.filter((s) => !depended.has(s.key)).map((s) => s.key);
}

/**
 * Keys of the transitive dependencies of `key`, in declaration order: whose outputs the step's
 * templates may read.
 *
 * @throws ValidationError if `key` is not a step, or as {@link topologicalOrder}.
 */
export function ancestors(definition: WorkflowDefinition, key: string): string[] {
  const graph = buildGraph(definition.steps);
  const i = graph.keys.indexOf(key);
  if (i === -1) throw new ValidationError(`There is no step ${quote(key)}`, { reason: 'UNKNOWN_DEPENDENCY', step: key, dependency: key });
  const order = kahn(graph);
  if (order.length < graph.keys.length) topologicalOrder(definition); // throws the cycle
  const mine = ancestorSets(graph, order)[i];
  return graph.keys.filter((_, j) => mine.has(j));
}
