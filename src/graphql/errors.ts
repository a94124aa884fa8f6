import { ApolloServerErrorCode } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { DomainError, type DomainErrorCode } from '../domain/errors';

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
        extensions: { ...e.data, code, ...(withHttpStatus ? { http: { status: HTTP_STATUS[code] } } : {}) },
      });
    default: {
      const exhaustive: never = code;
      return exhaustive;
    }
  }
}

/**
 * Apollo's formatError: domain errors keep their code and data; anything unexpected becomes
 * INTERNAL_SERVER_ERROR with no stack and, in production, no message (it may hold internals).
 */
export function createFormatError(opts: { production: boolean; onInternal: (error: unknown) => void }) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (original instanceof DomainError) {
      return { ...formatted, message: original.message, extensions: { ...toGraphQLError(original).extensions } };
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
