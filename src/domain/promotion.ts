/**
 * How a run moves on after a transition, the state machine's shared rules: promoting the steps
 * whose dependencies are done (conditions, fan-outs, inputs), starting the children of ready
 * `workflow` steps, and ending the run (it succeeds when nothing is left, fails with every
 * unfinished task cancelled). Pure, on the machine's working copy (run-machine.ts).
 */
import { CelEvaluationError, compileExpression } from './cel';
import { planLaunch, WORKFLOW_STEP_TYPE } from './child-runs';
import { coerceError, LimitExceededError, TemplateError } from './errors';
import { fanOut, itemEnded } from './fan-out-machine';
import { jsonBytesUpTo } from './json-limits';
import type { Json, StepDefinition, TaskStatus } from './glossary';
import type { TaskState, Working } from './run-machine';
import { rateLimitKeyOf } from './rate-limits';
import { isTerminalRun, isTerminalTask } from './statuses';
import { resolveTemplates, type TemplateScope } from './templates';

/** Dependencies in these states let a step go ahead (a SKIPPED one's output reads as null). */
const DONE_OK: ReadonlySet<TaskStatus> = new Set(['SUCCEEDED', 'SKIPPED']);

/**
 * Starts the child runs of the run's ready `workflow` tasks (src/domain/child-runs.ts): each
 * attempt begins RUNNING with `childRunId` and no lease, and waits; or the step fails at once
 * (refused), or stays QUEUED until its tenant has room.
 */
export function launchChildren(w: Working): void {
  const { ctx } = w;
  for (const task of w.byId.values()) {
    // A paused run starts nothing new: resume launches what became ready meanwhile.
    if (isTerminalRun(w.run.status) || w.run.status === 'PAUSED') return;
    const step = w.steps.get(task.key);
    if (step?.type !== WORKFLOW_STEP_TYPE || task.status !== 'QUEUED' || (task.availableAt !== null && task.availableAt > ctx.now)) continue;
    const launch = ctx.children
      ? planLaunch(ctx.children, { id: w.run.id, ...ctx.children.parent }, task, ctx.now, w.missing, ctx.limits, ctx.maxForEachItems)
      : ({ kind: 'refuse', error: 'Child workflows cannot start here', data: {} } as const);
    switch (launch.kind) {
      case 'unknown':
        break;
      case 'wait':
        // No event: the task stays QUEUED, looked at again when the delay ends.
        Object.assign(task, { availableAt: launch.availableAt });
        w.changed.add(task.id);
        w.ready.push({ queue: null, availableAt: launch.availableAt });
        break;
      case 'refuse':
        w.setTask(task, { status: 'FAILED', error: launch.error, finishedAt: ctx.now, availableAt: null }, { error: launch.error, ...launch.data });
        failRun(w, `Step "${task.key}" failed: ${launch.error}`);
        return;
      case 'start': {
        const { child } = launch;
        const workerId = `child-run:${child.id}`;
        Object.assign(task, {
          status: 'RUNNING',
          attempt: task.attempt + 1,
          fence: (BigInt(task.fence) + 1n).toString(),
          // Nobody holds this attempt: a secret no one was given, so no lease token can finish it.
          leaseSecret: ctx.newSecret(),
          workerId,
          childRunId: child.id,
          startedAt: ctx.now,
          availableAt: null,
          deadlineAt: step.timeoutMs === null ? null : new Date(ctx.now.getTime() + step.timeoutMs),
        });
        w.changed.add(task.id);
        if (w.run.status === 'PENDING') w.setRun({ status: 'RUNNING', startedAt: ctx.now });
        w.events.push({
          type: 'task.status',
          status: 'RUNNING',
          taskId: task.id,
          taskKey: task.key,
          attempt: task.attempt,
          data: { childRunId: child.id, workflow: child.workflowName, version: child.workflowVersion },
        });
        w.attemptsStarted.push({ taskId: task.id, fence: task.fence, attempt: task.attempt, workerId });
        w.childRuns.push(child);
        break;
      }
    }
  }
}

/** After a task ended: an item counts toward its fan task (which may fail or finish the step); then the run moves on. */
export function settleAfter(w: Working, task: TaskState): void {
  if (task.parentTaskId !== null) {
    const outcome = itemEnded(w, task);
    if (outcome.fan === 'failed') return failRun(w, `Step "${task.key}" failed: ${outcome.error}`);
    if (outcome.fan === 'running') return;
  }
  promoteAndSettle(w);
}

export function cancelUnfinished(w: Working): void {
  for (const task of w.byId.values()) {
    if (!isTerminalTask(task.status)) {
      w.setTask(task, { status: 'CANCELLED', finishedAt: w.ctx.now, timerAt: null, deadlineAt: null, availableAt: null });
    }
  }
}

/**
 * Decides every PENDING step whose dependencies are all done and none failed (SUCCEEDED or
 * SKIPPED): a false `when` skips it, a forEach step fans out, any other is queued with its input
 * resolved; a condition, list or template that cannot be evaluated fails it at once (no attempt:
 * it would not do better on a retry). Repeats while something moved (a skip or an empty list ends
 * a step at once). Finishes the run when every step SUCCEEDED or was SKIPPED. A PAUSED run does
 * neither: what finished stays as it is until resume promotes and settles.
 */
export function promoteAndSettle(w: Working): void {
  // A run waiting for a concurrency slot queues nothing: its admission promotes it.
  if (w.run.status === 'PAUSED' || w.run.concurrencyHeld === true) return;
  const outputs: Record<string, { output: Json }> = {};
  for (const t of w.byKey.values()) if (DONE_OK.has(t.status)) outputs[t.key] = { output: t.status === 'SKIPPED' ? null : t.output };

  // Again while something moved: a skip or an empty list finishes a step at once, and its
  // dependents (later in this pass or earlier in the next) may be ready now.
  for (let moved = true; moved;) {
    moved = false;
    for (const step of w.ctx.definition.steps) {
      const task = w.byKey.get(step.key)!;
      if (task.status !== 'PENDING') continue;
      if (!step.dependsOn.every((dep) => DONE_OK.has(w.byKey.get(dep)!.status))) continue;
      const scope: TemplateScope = { input: w.run.input, steps: outputs };
      let input: Json;
      let rateLimitKey: string | null;
      try {
        if (step.when !== undefined && !conditionHolds(w, step, outputs)) {
          w.setTask(task, { status: 'SKIPPED', input: null, output: null, error: null, finishedAt: w.ctx.now }, { reason: 'CONDITION_FALSE', when: step.when });
          outputs[step.key] = { output: null };
          moved = true;
          continue;
        }
        if (step.forEach !== undefined) {
          // The items count against the tenant's tasks waiting to run, read in the transaction.
          const children = w.ctx.children;
          const admit = children?.takeQueuedRoom ? (items: number) => children.takeQueuedRoom!(children.parent.tenantId, items) : undefined;
          const fanned = fanOut(w, step, task, scope, admit);
          if (!fanned.ok) return failRun(w, `Step "${step.key}" failed: ${fanned.message}`);
          if (fanned.unknown) {
            w.missing.rooms.push(children!.parent.tenantId);
            continue;
          }
          if ((task.status as TaskStatus) === 'SUCCEEDED') {
            outputs[step.key] = { output: task.output };
            moved = true;
          }
          continue;
        }
        input = resolveTemplates(step.input, scope, w.ctx.limits);
        rateLimitKey = rateLimitKeyOf(step, scope);
      } catch (e: unknown) {
        // A condition or template that cannot be evaluated (or expands past the limits) will not
        // do better on a retry: the task fails at once, without an attempt.
        const message = e instanceof TemplateError || e instanceof LimitExceededError ? e.message : coerceError(e).message;
        const data: Json =
          e instanceof LimitExceededError
            ? { error: message, reason: 'LIMIT_EXCEEDED', limit: e.data.limit as string }
            : e instanceof CelEvaluationError
              ? { error: message, reason: 'CONDITION_ERROR', when: step.when ?? null, offset: e.data.offset as number }
              : { error: message };
        w.setTask(task, { status: 'FAILED', error: message, finishedAt: w.ctx.now }, data);
        failRun(w, `Step "${step.key}" failed: ${message}`);
        return;
      }
      w.setTask(task, { status: 'QUEUED', input, rateLimitKey, queuedAt: w.ctx.now, availableAt: w.ctx.now });
      w.ready.push({ queue: step.queue, availableAt: w.ctx.now });
    }
  }

  const tasks = [...w.byKey.values()];
  if (tasks.every((t) => DONE_OK.has(t.status))) {
    const dependedOn = new Set(w.ctx.definition.steps.flatMap((s) => s.dependsOn));
    const output: Record<string, Json> = {};
    for (const step of w.ctx.definition.steps) {
      if (!dependedOn.has(step.key)) output[step.key] = outputs[step.key].output;
    }
    // The run's output holds its last steps' outputs, each up to MAX_OUTPUT_BYTES: 256 of them
    // would be 256 MB in one row, loaded whole by every page of runs that asks for `output`.
    const max = w.ctx.limits?.maxOutputBytes;
    if (max !== undefined && jsonBytesUpTo(output, max) > max) {
      return failRun(
        w,
        `OUTPUT_TOO_LARGE: the run's output (the outputs of steps ${Object.keys(output).join(', ')}, which no step depends on) would be over ${max} bytes (MAX_OUTPUT_BYTES): make those steps return less, or add a last step that keeps what matters`,
      );
    }
    // A run whose every step was skipped at once never started: it did now.
    const started = w.run.startedAt ?? w.ctx.now;
    w.setRun({ status: 'SUCCEEDED', output, error: null, startedAt: started, finishedAt: w.ctx.now });
  }
}

/** A step's `when` over the run input and its dependencies' outputs. @throws CelEvaluationError */
function conditionHolds(w: Working, step: StepDefinition, outputs: Record<string, { output: Json }>): boolean {
  const index = w.ctx.definition.steps.indexOf(step);
  const where = `the condition of step "${step.key}" (steps[${index}].when)`;
  const steps: Record<string, Json> = {};
  for (const [key, value] of Object.entries(outputs)) steps[key] = value as unknown as Json;
  return compileExpression(step.when!, { expect: 'bool', where }).evaluate({ input: w.run.input, steps }) === true;
}

/**
 * The run fails at once, and every unfinished task is cancelled with it, running attempts
 * included (their leases are revoked: the holder hears RUN_CANCELLED on its next heartbeat, its
 * result is refused). So the run's FAILED is its last event: no task finishes after its run
 * (Netflix Conductor cancels in-progress tasks of a failed workflow the same way). retryRun runs
 * the cancelled steps again.
 */
export function failRun(w: Working, error: string): void {
  cancelUnfinished(w);
  w.setRun({ status: 'FAILED', error, finishedAt: w.ctx.now }, { error });
}
