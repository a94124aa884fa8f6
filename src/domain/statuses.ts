/** Which task and run statuses are final: shared by the state machine and what reads its results. */
import type { RunStatus, TaskStatus } from './glossary';

const TERMINAL_TASK: ReadonlySet<TaskStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED']);
const TERMINAL_RUN: ReadonlySet<RunStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

export function isTerminalTask(status: TaskStatus): boolean {
  return TERMINAL_TASK.has(status);
}

export function isTerminalRun(status: RunStatus): boolean {
  return TERMINAL_RUN.has(status);
}
