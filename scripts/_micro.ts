import { createGraphQLServer } from '../src/http/graphql.js';
import { loadConfig } from '../src/config.js';
const row = { environmentId: 'env', id: 'session_x', externalId: 'e', type: 't', taskIdentifier: 't', triggerConfig: { basePayload: {} }, tags: ['a'], metadata: { a: 1 }, currentRunId: null, closedAt: null, closedReason: null, expiresAt: null, version: 2, createdAt: new Date(), updatedAt: new Date() };
const auth = { authenticate: async () => ({ kind: 'secret', environmentId: 'env' }) } as any;
const sessions = { update: async () => row, get: async () => row } as any;
const yoga = createGraphQLServer({ auth, sessions, maxRequestBytes: 65536, graphiql: false, production: true });
const query = `mutation Update($id: ID!, $input: UpdateSessionInput!) { updateSession(id: $id, input: $input) { __typename ... on UpdateSessionSuccess { session { id externalId tags metadata version updatedAt } } ... on Error { code message } } }`;
const request = { method: 'POST', url: 'http://x/graphql', headers: { get: (n: string) => (n === 'authorization' ? 'Bearer x' : null) } } as any;
async function bench(name: string, n: number) {
  for (let i = 0; i < 2000; i++) await yoga.getResultForParams({ params: { query, variables: { id: 'session_x', input: { tags: ['a'], metadata: { n: i } } } }, request }, {} as any);
  const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < n; i++) await yoga.getResultForParams({ params: { query, variables: { id: 'session_x', input: { tags: ['a'], metadata: { n: i } } } }, request }, {} as any);
  const c = process.cpuUsage(c0);
  console.log(name, ((c.user + c.system) / n).toFixed(1), 'µs CPU/op', ((performance.now() - t0) * 1000 / n).toFixed(1), 'µs wall/op');
}
await bench(process.env.GRAPHQL_JIT === '1' ? 'jit' : 'graphql-js', 20000);
