export { GraphQLJSON as JSONScalar, GraphQLDateTimeISO as DateTimeScalar } from 'graphql-scalars';
