import { printSubgraphSchema } from '@apollo/subgraph';
import { type GraphQLScalarType, type GraphQLUnionType, lexicographicSortSchema } from 'graphql';
import { InvalidArgumentsError } from '../sessions/errors.js';
import { builder } from './builder.js';
import './scalars.js';
import './errors.js';
import './session.js';
import './sessions-page.js';
import './session-changed.js';
import './close-session.js';
import './update-session.js';
import './create-session.js';

builder.queryType({ description: 'Reads: secret keys read their environment; public tokens only the sessions their scopes name.' });
builder.mutationType({ description: 'Writes: secret keys only. Each is one atomic statement.' });
builder.subscriptionType({
  description: 'Live updates, over Server-Sent Events (Accept: text/event-stream) or WebSocket (graphql-ws) on /graphql.',
});

/** The executable subgraph schema: our types plus `_service`, `_entities` and the `@link`. */
export const schema = builder.toSubGraphSchema({
  linkUrl: 'https://specs.apollo.dev/federation/v2.6',
  federationDirectives: ['@key'],
});

// The federation plumbing is described too, for the docs explorer (the subgraph SDL omits it).
const described: Record<string, string> = {
  _Any: 'A representation of an entity: { "__typename": "Session", "id": "session_..." } or { ..., "externalId": "..." }.',
  _Entity: 'Every entity type of this subgraph: Session.',
  _Service: 'This subgraph, for gateways.',
};
for (const [name, description] of Object.entries(described)) schema.getType(name)!.description = description;
const rootFields = schema.getQueryType()!.getFields();
rootFields['_entities']!.description =
  'Sessions by federation keys, in the order given, null where none is yours; one query for the whole batch.';
rootFields['_entities']!.args[0]!.description = 'The representations to resolve.';
rootFields['_service']!.description = 'The subgraph SDL (no credentials needed).';

// A representation names an entity type of this subgraph, else it is bad input, told by its
// class (@apollo/subgraph would throw a plain Error naming no type, or resolve a wrong one).
const entityTypes = new Set((schema.getType('_Entity') as GraphQLUnionType).getTypes().map((type) => type.name));
const anyScalar = schema.getType('_Any') as GraphQLScalarType;
const representation = (value: unknown) => {
  if (!entityTypes.has((value as { __typename?: unknown } | null)?.__typename as string)) {
    throw new InvalidArgumentsError(`A representation is an object whose __typename is ${[...entityTypes].join(' or ')}`);
  }
  return value;
};
const { parseValue, parseLiteral } = anyScalar;
anyScalar.parseValue = (value) => representation(parseValue.call(anyScalar, value));
anyScalar.parseLiteral = (node, variables) => representation(parseLiteral.call(anyScalar, node, variables));

/** schema.graphql: the subgraph SDL, as `_service { sdl }` serves it. */
export function printSchema(): string {
  return printSubgraphSchema(lexicographicSortSchema(schema));
}
