import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs. Secrets are redacted by path here; pattern scrubbing of free text (emails, card
 * numbers, tokens) lands with the observability work.
 */
export function createLogger(opts: { level: string; base?: Record<string, unknown> }): Logger {
  return pino({
    level: opts.level,
    base: { service: 'maestro-conductor', ...opts.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        'headers.cookie',
        'authorization',
        'apiKey',
        'password',
        'secret',
        'databaseUrl',
        'redisUrl',
        '*.authorization',
        '*.password',
        '*.apiKey',
      ],
      censor: '[REDACTED]',
    },
    serializers: { err: pino.stdSerializers.err },
  });
}
