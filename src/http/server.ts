import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLError, ValidationContext } from 'graphql';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type GraphiQLOptions, useReadinessCheck } from 'graphql-yoga';
import type { Authenticator } from '../auth/credentials.js';
import type { Database } from '../db/client.js';
import { type Context, createContext } from '../graphql/builder.js';
import { schema } from '../graphql/schema.js';
import type { SessionsService } from '../sessions/service.js';
import { isExpectedError, maskError, useContractErrorCodes } from './errors.js';
import { type RateLimit, useRateLimit } from './rate-limit.js';

/** Operation bounds of the contract, measured as graphql-armor measures them. */
export const OPERATION_LIMITS = { aliases: 15, depth: 10, tokens: 1000, directives: 50 } as const;

export const EXAMPLE_OPERATION = `# Put your secret key in the Headers tab below (npm start printed it on first start):
#   { "Authorization": "Bearer tr_dev_..." }
# The id is a friendly id (session_...) or your own externalId.
mutation UpdateSession($id: ID!, $input: UpdateSessionInput!) {
  updateSession(id: $id, input: $input) {
    __typename
    ... on UpdateSessionSuccess {
      session { id externalId tags metadata version updatedAt }
    }
    ... on Error { code message }
    ... on InvalidInputError { issues { path message } }
  }
}
`;

// Reported into validation instead of thrown out of it, so the refusal is a 400
// GRAPHQL_VALIDATION_FAILED like any other invalid document.
const asValidationError = {
  propagateOnRejection: false,
  onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(error)],
};

// Yoga's GraphiQL takes `headers` and `variables` (untyped) as the first tab's editors.
const GRAPHIQL: GraphiQLOptions & { variables: string } = {
  title: 'sessions-gateway',
  defaultQuery: EXAMPLE_OPERATION,
  variables: JSON.stringify({ id: 'chat_1234', input: { tags: ['chat:1234'], metadata: { topic: 'billing' } } }, null, 2),
  headers: JSON.stringify({ Authorization: 'Bearer tr_dev_...' }, null, 2),
  defaultEditorToolsVisibility: 'headers',
};
let graphiqlPage: string | undefined;

export interface ServerOptions {
  database: Database;
  auth: Authenticator;
  sessions: SessionsService;
  maxRequestBytes: number;
  graphiql: boolean;
  production: boolean;
  rateLimit?: RateLimit;
}

export function createGraphQLServer(options: ServerOptions) {
  const { database, auth, sessions } = options;
  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    maxRequestBodySize: options.maxRequestBytes,
    graphiql: options.graphiql ? GRAPHIQL : false,
    // GraphiQL's whole bundle from npm, inlined into one page rendered once: no CDN, no request
    // leaves the host.
    renderGraphiQL: (opts) => (graphiqlPage ??= renderGraphiQL(opts)),
    maskedErrors: { maskError },
    logging: {
      debug: () => {},
      info: (...args) => console.info(...args),
      warn: (...args) => console.warn(...args),
      error: (...args) => {
        if (!args.some(isExpectedError)) console.error(...args);
      },
    },
    context: ({ request }) =>
      createContext(() => auth.authenticate(request.headers.get('authorization')), sessions),
    plugins: [
      useRateLimit(options.rateLimit ?? { perSecond: 0, burst: 1 }),
      EnvelopArmorPlugin({
        maxAliases: { n: OPERATION_LIMITS.aliases, ...asValidationError },
        maxDepth: { n: OPERATION_LIMITS.depth, ...asValidationError },
        maxTokens: { n: OPERATION_LIMITS.tokens },
        maxDirectives: { n: OPERATION_LIMITS.directives, ...asValidationError },
        costLimit: { enabled: false },
        blockFieldSuggestion: { enabled: options.production },
      }),
      useReadinessCheck({
        endpoint: '/ready',
        check: async () => {
          try {
            await database.ping();
            return true;
          } catch {
            return false;
          }
        },
      }),
      useContractErrorCodes(),
    ],
  });
}
