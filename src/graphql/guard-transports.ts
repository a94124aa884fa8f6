import type { ExecutionArgs, ExecutionResult, GraphQLError, GraphQLSchema } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import type { GraphQLGuard } from './guard';
import type { SharedSubscriptions } from './shared-subscriptions';

/**
 * The guard's hooks for graphql-ws (`useServer`): every operation parsed with the token limit and
 * validated with the same rules and limits as on HTTP (through SharedSubscriptions' caches), and
 * every answer masked and size-capped as on HTTP. Without them graphql-ws would throw a refused
 * document at the socket (closing it with the parser's message) and send raw errors.
 */
export function graphqlWsGuard(
  guard: GraphQLGuard,
  schema: GraphQLSchema,
  shared: SharedSubscriptions,
): Pick<ServerOptions, 'onSubscribe' | 'onNext' | 'onError'> {
  return {
    onSubscribe: (_ctx, _id, payload) => {
      const prepared = guard.prepare(schema, payload.query, shared);
      if ('errors' in prepared) return prepared.errors as GraphQLError[];
      const args: ExecutionArgs = { schema, document: prepared.document, variableValues: payload.variables, operationName: payload.operationName };
      return args;
    },
    onNext: (_ctx, _id, _payload, _args, result) => guard.formatResult(result) as ExecutionResult,
    onError: (_ctx, _id, _payload, errors) => guard.formatErrors(errors) as never,
  };
}

interface LegacyParams {
  query: unknown;
  context: unknown;
  formatResponse?: (value: ExecutionResult) => unknown;
  formatError?: (error: unknown) => unknown;
}

/**
 * The guard for subscriptions-transport-ws: wraps its `onOperation`. The server parses
 * `params.query` itself unless it is already a document, and validates with its
 * `validationRules` option, which must then be `[]` (the guard has validated). A refusal, or any
 * failure of `onOperation`, reaches the client as `{ errors }`, masked.
 */
export function legacyGuard<P extends LegacyParams, R extends LegacyParams, S>(
  guard: GraphQLGuard,
  schema: GraphQLSchema,
  onOperation: (message: unknown, params: P, socket: S) => R | Promise<R>,
): (message: unknown, params: P, socket: S) => Promise<R> {
  return async (message, params, socket) => {
    try {
      const prepared = guard.prepare(schema, params.query);
      if ('errors' in prepared) throw new RefusedOperation(guard.formatErrors(prepared.errors));
      params.query = prepared.document;
      const next = await onOperation(message, params, socket);
      return {
        ...next,
        formatResponse: (value: ExecutionResult) => guard.formatResult(value),
        formatError: (error: unknown) => guard.formatErrors([error])[0],
      };
    } catch (e: unknown) {
      // Already an answer for the client (`{ errors }`, e.g. a refusal of the connection's rules).
      if (e instanceof RefusedOperation || Array.isArray((e as { errors?: unknown } | null)?.errors)) throw e;
      throw new RefusedOperation(guard.formatErrors([e]));
    }
  };
}

/** What subscriptions-transport-ws sends as `{ errors }` when `onOperation` rejects with it. */
class RefusedOperation {
  constructor(readonly errors: unknown[]) {}
}
