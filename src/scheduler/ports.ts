import type { TaskRecord } from '../domain/model';

/**
 * The replica's own executor pool, for eager dispatch: when a result makes built-in steps ready,
 * the same transaction claims them for this replica (they are in hand, their run locked), saving
 * a claim transaction and a wake-up per step (Temporal's eager activity dispatch does the like).
 */
export interface LocalDispatch {
  readonly workerId: string;
  readonly leaseMs: number;
  /** Reserves up to `n` executor slots; returns how many it got (0 while draining). */
  reserve(n: number): number;
  /** Gives back reserved slots that were not used. */
  unreserve(n: number): void;
  /** Starts the claimed tasks on reserved slots (one slot each). */
  take(claimed: readonly { task: TaskRecord; expiresAt: Date }[]): void;
}
