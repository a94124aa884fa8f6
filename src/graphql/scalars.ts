import { GraphQLError, GraphQLScalarType, Kind, print, type ValueNode } from 'graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { LimitExceededError } from '../domain/errors';
import { checkJson, HARD_MAX_JSON_DEPTH } from '../domain/json-limits';

export { GraphQLDateTimeISO as DateTimeScalar } from 'graphql-scalars';

/**
 * What every JSON argument must be before a resolver sees it: nested at most
 * {@link HARD_MAX_JSON_DEPTH} levels (MAX_JSON_DEPTH's upper bound; the services then apply the
 * configured MAX_JSON_DEPTH and byte limits, naming the field), storable by Postgres (no NUL, no
 * unpaired surrogate) and free of `__proto__` keys. The HTTP body limit bounds the size. Checked
 * without recursion: JSON nested 5,000 levels deep is LIMIT_EXCEEDED, not a stack overflow.
 */
const BOUNDARY = { what: 'a JSON argument', maxDepth: HARD_MAX_JSON_DEPTH, maxBytes: Number.MAX_SAFE_INTEGER, bytesLimit: 'MAX_INPUT_BYTES' };

/**
 * `graphql-scalars`' JSON (same name, description and serialization) with iterative, bounded
 * parsing of variables and literals.
 */
export const JSONScalar = new GraphQLScalarType({
  name: GraphQLJSON.name,
  description: GraphQLJSON.description,
  specifiedByURL: GraphQLJSON.specifiedByURL,
  serialize: GraphQLJSON.serialize,
  parseValue(value: unknown): unknown {
    checkJson(value, BOUNDARY);
    return value;
  },
  parseLiteral(ast: ValueNode, variables?: Record<string, unknown> | null): unknown {
    const value = literalToJson(ast, variables ?? null);
    checkJson(value, BOUNDARY);
    return value;
  },
  extensions: GraphQLJSON.extensions,
});

interface Pending {
  node: ValueNode;
  depth: number;
  assign: (v: unknown) => void;
}

/**
 * A JSON value from a GraphQL literal, iteratively (graphql-scalars recurses). Variables inside a
 * literal are substituted; an unknown one is null, as graphql-scalars does.
 */
function literalToJson(ast: ValueNode, variables: Record<string, unknown> | null): unknown {
  let result: unknown;
  const stack: Pending[] = [{ node: ast, depth: 0, assign: (v) => (result = v) }];
  while (stack.length > 0) {
    const { node, depth, assign } = stack.pop()!;
    if (depth > HARD_MAX_JSON_DEPTH) {
      throw new LimitExceededError(`A JSON argument is nested more than ${HARD_MAX_JSON_DEPTH} levels deep (MAX_JSON_DEPTH)`, {
        limit: 'MAX_JSON_DEPTH',
        max: HARD_MAX_JSON_DEPTH,
        actual: depth,
      });
    }
    switch (node.kind) {
      case Kind.STRING:
      case Kind.BOOLEAN:
        assign(node.value);
        break;
      case Kind.INT:
      case Kind.FLOAT:
        assign(parseFloat(node.value));
        break;
      case Kind.NULL:
        assign(null);
        break;
      case Kind.VARIABLE:
        assign(variables?.[node.name.value] ?? null);
        break;
      case Kind.LIST: {
        const list: unknown[] = new Array(node.values.length);
        assign(list);
        node.values.forEach((child, i) => stack.push({ node: child, depth: depth + 1, assign: (v) => (list[i] = v) }));
        break;
      }
      case Kind.OBJECT: {
        // Own data properties only: a "__proto__" field is data (and refused by checkJson).
        const object: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
        assign(object);
        for (const field of node.fields) {
          stack.push({
            node: field.value,
            depth: depth + 1,
            assign: (v) => Object.defineProperty(object, field.name.value, { value: v, enumerable: true, writable: true, configurable: true }),
          });
        }
        break;
      }
      default:
        throw new GraphQLError(`JSON cannot represent value: ${print(node)}`, { nodes: node });
    }
  }
  return result;
}
