import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { DomainError, type DomainErrorCode } from '../domain/errors';
import { asUnavailable } from '../store/unavailable';

/** HTTP status for errors raised before execution (the context): 401 for missing credentials. */
const HTTP_STATUS: Record<DomainErrorCode, number> = {
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CONFLICT: 409,
  LEASE_LOST: 409,
  RUN_CANCELLED: 409,
  LIMIT_EXCEEDED: 400,
  QUOTA_EXCEEDED: 429,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

/** The HTTP status of a domain error where the answer is not GraphQL (webhooks). */
export function httpStatusOf(e: DomainError): number {
  return HTTP_STATUS[e.code];
}

/**
 * What a thrown value means to a client: a domain error as it is; a dependency fault (the
 * database or Redis unreachable, restarting, out of pool connections) as UNAVAILABLE, retryable;
 * null for anything else (a bug: INTERNAL_SERVER_ERROR). Every transport maps through this.
 */
export function domainErrorOf(e: unknown): DomainError | null {
  if (e instanceof DomainError) return e;
  const typed = asUnavailable(e, 'A dependency of the conductor (the database or Redis)');
  return typed instanceof DomainError ? typed : null;
}

/** `e` as a GraphQL error when it has a code (see `domainErrorOf`), else as it was. */
export function mapError(e: unknown, withHttpStatus = false): unknown {
  const domain = domainErrorOf(e);
  return domain ? toGraphQLError(domain, withHttpStatus) : e;
}

/**
 * A domain error as a GraphQL error, `extensions.code` set: the one mapping of the API's error
 * contract. `withHttpStatus` only for errors before execution (auth): inside a GraphQL response
 * an error is data, and the HTTP status stays 200.
 */
export function toGraphQLError(e: DomainError, withHttpStatus = false): GraphQLError {
  const code: DomainErrorCode = e.code;
  switch (code) {
    case 'BAD_USER_INPUT':
    case 'NOT_FOUND':
    case 'UNAUTHENTICATED':
    case 'FORBIDDEN':
    case 'CONFLICT':
    case 'LEASE_LOST':
    case 'RUN_CANCELLED':
    case 'LIMIT_EXCEEDED':
    case 'QUOTA_EXCEEDED':
    case 'RATE_LIMITED':
    case 'UNAVAILABLE':
      return new GraphQLError(e.message, {
        originalError: e,
        extensions: { ...e.data, code, ...(withHttpStatus ? { http: httpHead(e) } : {}) },
      });
    default: {
      const exhaustive: never = code;
      return exhaustive;
    }
  }
}

function httpHead(e: DomainError): { status: number; headers?: Map<string, string> } {
  const retryAfterMs = e.data['retryAfterMs'];
  if (typeof retryAfterMs !== 'number') return { status: HTTP_STATUS[e.code] };
  return { status: HTTP_STATUS[e.code], headers: new Map([['retry-after', retryAfterSeconds(retryAfterMs)]]) };
}

/** `Retry-After` is whole seconds: at least 1. */
function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1_000)));
}

/**
 * Apollo's formatError: domain errors keep their code and data; anything unexpected becomes
 * INTERNAL_SERVER_ERROR with no stack and, in production, no message (it may hold internals).
 */
export function createFormatError(opts: { production: boolean; onInternal: (error: unknown) => void }) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    const domain = domainErrorOf(original);
    if (domain) {
      return { ...formatted, message: domain.message, extensions: { ...toGraphQLError(domain).extensions } };
    }
    const code = formatted.extensions?.['code'];
    if (code && code !== ApolloServerErrorCode.INTERNAL_SERVER_ERROR) {
      const { stacktrace: _s, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    if (original instanceof GraphQLError && original.extensions?.['code']) {
      return { ...formatted, extensions: { code: original.extensions['code'] } };
    }
    opts.onInternal(original ?? error);
    return {
      message: opts.production ? 'Internal server error' : formatted.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ApolloServerErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}

/**
 * HTTP status of a response that returned nothing (no data, or null for every root field) and
 * whose every error is UNAVAILABLE: 503 with `Retry-After`, so proxies, load balancers and plain
 * HTTP clients see a retryable outage, not a 200. (With other errors, or with some data, the
 * errors are data and the status stays as GraphQL over HTTP says.)
 */
export function unavailableStatusPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { errors, data } = response.body.singleResult;
          if (!errors?.length || (data && Object.values(data).some((v) => v !== null))) return;
          if (!errors.every((e) => e.extensions?.['code'] === 'UNAVAILABLE')) return;
          const retryAfterMs = Math.max(...errors.map((e) => Number(e.extensions?.['retryAfterMs'] ?? 1_000)));
          response.http.status = 503;
          response.http.headers.set('retry-after', retryAfterSeconds(retryAfterMs));
        },
      };
    },
  };
}
