import { printSubgraphSchema } from '@apollo/subgraph';
import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.js';
import './scalars.js';
import './errors.js';
import './session.js';
import './mutations.js';

/** The executable subgraph schema: our types plus `_service`, `_entities` and the `@link`. */
export const schema = builder.toSubGraphSchema({
  linkUrl: 'https://specs.apollo.dev/federation/v2.6',
  federationDirectives: ['@key'],
});

/** schema.graphql: the subgraph SDL, as `_service { sdl }` serves it. */
export function printSchema(): string {
  return printSubgraphSchema(lexicographicSortSchema(schema));
}
