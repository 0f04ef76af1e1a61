import type { GraphiQLOptions } from 'graphql-yoga';

/** GraphiQL opens with the README's first steps, so ▶ succeeds on an empty database. */
export const EXAMPLE_OPERATION = `# Put your secret key in the Headers tab below (npm start printed it on first start):
#   { "Authorization": "Bearer tr_dev_..." }
# Then press ▶: this creates a session (or finds it again) and updates it by its externalId.
mutation FirstSteps($input: CreateSessionInput!, $patch: UpdateSessionInput!) {
  createSession(input: $input) {
    __typename
    ... on CreateSessionSuccess { isCached session { id externalId version } }
    ... on Error { code message }
  }
  updateSession(id: "chat_1234", input: $patch) {
    __typename
    ... on UpdateSessionSuccess { session { id externalId tags metadata version updatedAt } }
    ... on Error { code message }
    ... on InvalidInputError { issues { path message } }
  }
}
`;

export const EXAMPLE_VARIABLES = {
  input: {
    type: 'chat.agent',
    taskIdentifier: 'my-chat',
    externalId: 'chat_1234',
    triggerConfig: { basePayload: { model: 'small' } },
  },
  patch: { tags: ['chat:1234'], metadata: { topic: 'billing' } },
};

// Yoga's GraphiQL takes `headers` and `variables` (untyped) as the first tab's editors.
export const GRAPHIQL: GraphiQLOptions & { variables: string } = {
  title: 'sessions-gateway',
  defaultQuery: EXAMPLE_OPERATION,
  variables: JSON.stringify(EXAMPLE_VARIABLES, null, 2),
  headers: JSON.stringify({ Authorization: 'Bearer tr_dev_...' }, null, 2),
  defaultEditorToolsVisibility: 'headers',
};
let graphiqlPage: string | undefined;

/**
 * GraphiQL's whole bundle from npm, inlined into one page rendered once: no CDN, no request leaves
 * the host. Loaded on the first page asked for: the bundle alone holds about 50 MB.
 */
export const renderGraphiQL = async (options: GraphiQLOptions) =>
  (graphiqlPage ??= (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options));
