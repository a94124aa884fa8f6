import type { ErrorRequestHandler } from 'express';
import { coerceError } from '../domain/errors';
import type { Logger } from '../observability/logger';

/** What body-parser sets on the errors it raises (`type`, `status`, `limit`, `length`; `body` holds the raw text: never logged). */
interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
  limit?: number;
  length?: number;
  expose?: boolean;
}

/**
 * Errors raised before Apollo sees the request (body-parser: malformed JSON, a body over the
 * limit, an unsupported charset) answered as GraphQL JSON errors with their HTTP status, instead
 * of Express's HTML page (with a stack and file paths in development), and logged as one
 * redacted line instead of Express's multi-line stack with the raw body on stderr.
 */
export function bodyErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const e = (typeof err === 'object' && err !== null ? err : {}) as BodyParserError;
    const status = e.status ?? e.statusCode ?? 500;
    let body: { message: string; extensions: Record<string, unknown> };
    if (e.type === 'entity.too.large') {
      body = {
        message: `The request body is larger than the ${e.limit ?? 'allowed'} bytes allowed (REQUEST_BODY_MAX_BYTES); send a smaller document or variables`,
        extensions: {
          code: 'LIMIT_EXCEEDED',
          limit: 'REQUEST_BODY_MAX_BYTES',
          ...(e.limit !== undefined ? { max: e.limit } : {}),
          ...(e.length !== undefined ? { actual: e.length } : {}),
        },
      };
    } else if (e.type === 'entity.parse.failed') {
      body = { message: 'The request body is not valid JSON: send {"query": "...", "variables": {...}}', extensions: { code: 'BAD_REQUEST' } };
    } else if (status >= 400 && status < 500) {
      body = { message: `The request cannot be read (${e.type ?? 'bad request'}): send a UTF-8 JSON body`, extensions: { code: 'BAD_REQUEST' } };
    } else {
      body = { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
    const fields = { status, type: e.type ?? 'unknown', method: req.method, path: req.path, limit: e.limit, length: e.length };
    // A fault of ours keeps its stack (one JSON line); a refused body is logged without it (the error holds the body).
    if (status >= 500) logger.error({ ...fields, err: coerceError(err) }, 'unexpected error before GraphQL');
    else logger.warn(fields, 'refused an HTTP request before GraphQL');
    res
      .status(status >= 400 && status < 600 ? status : 500)
      .type('application/json')
      .send(JSON.stringify({ errors: [body] }));
  };
}
