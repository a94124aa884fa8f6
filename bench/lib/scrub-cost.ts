/**
 * What scrubbing costs a log line: pino to a null sink with and without the redaction of
 * `createLogger`, and `scrubText` on one message. CPU time of this process, not wall time
 * (steadier on a shared machine); best of 5, the two loggers interleaved so both see the same
 * conditions. Part of `npm run bench:observability`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pino, { type DestinationStream } from 'pino';
import { createLogger } from '../../src/observability/logger';
import { scrubText } from '../../src/observability/redact';

export interface ScrubCost {
  /** Lines per second, pino alone. */
  plainRate: number;
  /** Lines per second through createLogger (scrubbed). */
  scrubbedRate: number;
  /** scrubText calls per second on a 100-character message. */
  textRate: number;
}

export function measureScrubCost(): ScrubCost {
  const sink: DestinationStream = { write: () => undefined };
  const scrubbed = createLogger({ level: 'info', destination: sink });
  const plain = pino(
    {
      level: 'info',
      base: { service: 'maestro-conductor' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    sink,
  );
  // A typical line about a task: ids, a status, numbers, a short message. Fresh ids on every
  // line (20k distinct), so the clean-string cache only helps where it would in production
  // (tenant, workflow, step and status repeat; ids do not).
  const lines = Array.from({ length: 20_000 }, (_, i) => ({
    runId: randomUUID(),
    taskId: randomUUID(),
    tenantId: `tenant-${i % 7}`,
    workflow: ['nightly-etl', 'invoice-sync', 'report-build'][i % 3],
    traceId: randomBytes(16).toString('hex'),
    step: ['fetch', 'transform', 'load', 'notify'][i % 4],
    attempt: 1 + (i % 3),
    status: 'SUCCEEDED',
    durationMs: 1000 + (i % 997),
  }));
  const cpuSeconds = (fn: () => void): number => {
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    return (d.user + d.system) / 1e6;
  };
  const rate = (log: pino.Logger, n: number): number =>
    n /
    cpuSeconds(() => {
      for (let i = 0; i < n; i++) log.info(lines[i % lines.length], 'task finished');
    });
  rate(plain, 20_000); // warm-up
  rate(scrubbed, 20_000);
  let plainRate = 0;
  let scrubbedRate = 0;
  for (let round = 0; round < 5; round++) {
    plainRate = Math.max(plainRate, rate(plain, 40_000));
    scrubbedRate = Math.max(scrubbedRate, rate(scrubbed, 40_000));
  }
  const message = 'http GET https://api.example.com/v1/orders/25878829 answered 503 Service Unavailable after 1532 ms';
  let textRate = 0;
  for (let round = 0; round < 5; round++) {
    const r =
      100_000 /
      cpuSeconds(() => {
        for (let i = 0; i < 100_000; i++) scrubText(message);
      });
    textRate = Math.max(textRate, r);
  }
  return { plainRate, scrubbedRate, textRate };
}

export function formatScrubCost({ plainRate, scrubbedRate, textRate }: ScrubCost): string {
  return (
    `pino to a null sink, typical task line (9 fields + msg, fresh ids): ` +
    `without scrubbing ${Math.round(plainRate).toLocaleString('en-US')} lines/s (${(1e6 / plainRate).toFixed(2)} µs/line), ` +
    `with scrubbing ${Math.round(scrubbedRate).toLocaleString('en-US')} lines/s (${(1e6 / scrubbedRate).toFixed(2)} µs/line), ` +
    `overhead ${(1e6 / scrubbedRate - 1e6 / plainRate).toFixed(2)} µs/line; scrubText on a 100-char message: ${(1e6 / textRate).toFixed(2)} µs`
  );
}
