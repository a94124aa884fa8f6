import pino, { type Bindings, type ChildLoggerOptions, type LogFn, type Logger } from 'pino';
import { scrubRecord, scrubText, scrubValue } from './redact';

export type { Logger };

/**
 * JSON logs with PII and secrets scrubbed from every line (runbook section 6). pino gives four
 * ways in, each covered:
 * - the merged object: `formatters.log` (runs before the serializers, so it also sees raw
 *   Errors and http requests anywhere in it);
 * - the message and its printf arguments: `hooks.logMethod`, including the message pino would
 *   take from `err.message` when none is given;
 * - bindings: the root's `base` through `formatters.bindings`; a child's through a wrapped
 *   `child()`/`setBindings()` (pino skips the bindings formatter for children);
 * - `err`: its serializer scrubs message and stack of an Error that reaches it unconverted.
 * Values under sensitive keys (`authorization`, `cookie`, `password`, `apiKey`, `databaseUrl`,
 * … at any depth, any case) become "[REDACTED]"; see redact.ts for the patterns. Scrubbing is
 * about a quarter of the cost of a typical line (1–2 µs; CPU profile of pino + scrubbing, and
 * the lines/s with and without it printed by test/unit/redact.test.ts).
 */
export function createLogger(opts: {
  level: string;
  base?: Record<string, unknown>;
  /** Where lines go (tests capture them). @default stdout */
  destination?: pino.DestinationStream;
}): Logger {
  const logger = pino(
    {
      level: opts.level,
      base: { service: 'maestro-conductor', ...opts.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => scrubRecord(bindings),
        log: (obj) => scrubRecord(obj),
      },
      hooks: { logMethod: scrubLogArguments },
      serializers: { err: (e: unknown) => (e instanceof Error ? scrubValue(e) : e) },
    },
    // Synchronous stdout: lines in order and none lost at exit (the drain's last lines matter to
    // an SRE reading `kubectl logs`); pino's async mode reordered them around flush().
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );

  // Children inherit these through the prototype chain (pino's child is Object.create(parent)).
  const child = logger.child as unknown as (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) => Logger;
  const setBindings = logger.setBindings as (this: Logger, bindings: Bindings) => void;
  const wrapped = logger as unknown as {
    child: (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) => Logger;
    setBindings: (this: Logger, bindings: Bindings) => void;
  };
  wrapped.child = function (this: Logger, bindings: Bindings, options?: ChildLoggerOptions): Logger {
    const scrubbed = options?.msgPrefix ? { ...options, msgPrefix: scrubText(options.msgPrefix) } : options;
    return child.call(this, scrubRecord(bindings), scrubbed);
  };
  wrapped.setBindings = function (this: Logger, bindings: Bindings): void {
    setBindings.call(this, scrubRecord(bindings));
  };
  return logger;
}

/**
 * `log.info(msg, ...args)`, `log.info(obj, msg, ...args)`, `log.error(err)`: scrubs the message and
 * the interpolation arguments (the merged object is left to `formatters.log`, so it is scrubbed
 * once). With no message, pino would use `err.message` raw: pass it scrubbed instead.
 */
function scrubLogArguments(this: Logger, args: Parameters<LogFn>, method: LogFn): void {
  const a = args as unknown[];
  let i = 0;
  const first = a[0];
  if (typeof first === 'string') {
    a[0] = scrubText(first);
    i = 1;
  } else if (first !== null && typeof first === 'object') {
    if (a.length === 1 || a[1] === undefined) {
      const err = first instanceof Error ? first : (first as { msg?: unknown; err?: unknown }).msg === undefined ? (first as { err?: unknown }).err : undefined;
      const message = (err as { message?: unknown } | undefined)?.message;
      if (typeof message === 'string') a[1] = scrubText(message);
    } else if (typeof a[1] === 'string') {
      a[1] = scrubText(a[1]);
    }
    i = 2;
  }
  for (; i < a.length; i++) {
    const v = a[i];
    if (typeof v === 'string') a[i] = scrubText(v);
    else if (v !== null && typeof v === 'object') a[i] = scrubValue(v);
  }
  method.apply(this, a as Parameters<LogFn>);
}
