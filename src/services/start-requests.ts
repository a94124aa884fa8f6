import { createHash } from 'node:crypto';
import { ConflictError } from '../domain/errors';
import type { Json } from '../domain/glossary';
import { canonicalJson } from '../domain/json';
import type { RunRecord } from '../domain/model';
import type { RunMetadata } from '../domain/run-metadata';

/** What an idempotency key remembers of a start request. */
export interface StartRequest {
  workflow: string;
  version: number | null;
  input: Json;
  /** Canonical: distinct and sorted. */
  tags: string[];
  metadata: RunMetadata;
}

/**
 * SHA-256 (hex) of a start request as its idempotency key remembers it: workflow, version asked
 * for (null: latest), input, tags and metadata, canonical. Tags and metadata count only when
 * given: a request without them hashes as it did before they existed, so a key used then still
 * matches its repeat.
 */
export function startRequestHash(req: { workflow: string; version: number | null; input: Json; tags?: readonly string[]; metadata?: RunMetadata }): string {
  const hashed: { [key: string]: Json } = { workflow: req.workflow, version: req.version, input: req.input };
  if (req.tags?.length) hashed['tags'] = [...req.tags];
  if (req.metadata && Object.keys(req.metadata).length > 0) hashed['metadata'] = req.metadata;
  return createHash('sha256').update(canonicalJson(hashed)).digest('hex');
}

/**
 * An idempotency key answers with its run only for the request it was first used with (Stripe's
 * rule): the same workflow, version and input. Anything else is a client bug that a silent
 * "here is the old run" would hide; the conflict names what differs.
 */
export function sameRequest(existing: RunRecord, key: string, req: StartRequest, hash: string): RunRecord {
  if (existing.requestHash === hash) return existing;
  const differs: string[] = [];
  if (existing.workflowName !== req.workflow) differs.push('workflow');
  if (req.version !== null && req.version !== existing.workflowVersion) differs.push('version');
  if (canonicalJson(existing.input) !== canonicalJson(req.input)) differs.push('input');
  // Runs stored before tags and metadata existed read as [] and {}, what a request without them asks.
  if (canonicalJson(existing.tags ?? []) !== canonicalJson(req.tags)) differs.push('tags');
  if (canonicalJson(existing.metadata ?? {}) !== canonicalJson(req.metadata)) differs.push('metadata');
  // Same name, version and input, yet another hash: one request named the version, the other asked for the latest.
  if (differs.length === 0 && existing.requestHash !== null) differs.push('version');
  // A run started before requests were hashed: same fields is the same request.
  if (differs.length === 0) return existing;
  throw new ConflictError(
    `idempotencyKey "${key}" was already used for run ${existing.id} with another ${differs.join(', ')}; ` +
      'send the original request again to get that run, or use a new key for a new run',
    { reason: 'IDEMPOTENCY_KEY_REUSED', idempotencyKey: key, runId: existing.id, differs },
  );
}
