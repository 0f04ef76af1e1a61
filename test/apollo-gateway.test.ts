import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { baseCreateInput, drivers, startTestApp, type TestApp } from './support.js';

const CHATS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
  type Chat @key(fields: "id") {
    id: ID!
    session: Session
  }
  type Session @key(fields: "id", resolvable: false) {
    id: ID!
  }
  type Query {
    chats: [Chat!]!
  }
`;

const CHATS = 64;

/** Apollo's own stack: @apollo/composition, @apollo/gateway inside @apollo/server. */
describe.each(drivers)('federation through Apollo Gateway on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  const chats: { id: string; sessionId: string }[] = [];
  const servers: Server[] = [];
  let apollo: ApolloServer;
  let gatewayUrl: string;
  let subgraphFetches = 0;
  /** The query plan's trace of the last request (the gateway asks subgraphs for ftv1 when it captures traces). */
  let planTrace: unknown;

  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
    for (let i = 0; i < CHATS; i++) {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: `apollo-${i}`, tags: [`n:${i}`] }));
      chats.push({ id: `c${i}`, sessionId: s.id });
    }
    const chatServer = createServer(
      createYoga({
        schema: buildSubgraphSchema({
          typeDefs: parse(CHATS_SDL),
          resolvers: {
            Query: { chats: () => chats },
            Chat: { session: (chat: { sessionId: string }) => ({ __typename: 'Session', id: chat.sessionId }) },
          },
        }),
      }),
    );
    await new Promise<void>((resolve) => chatServer.listen(0, '127.0.0.1', resolve));
    servers.push(chatServer);
    const chatsUrl = `http://127.0.0.1:${(chatServer.address() as AddressInfo).port}/graphql`;

    const sdl = (await t.gql('{ _service { sdl } }')).body.data._service.sdl as string;
    const composed = composeServices([
      { name: 'sessions', typeDefs: parse(sdl), url: `${t.url}/graphql` },
      { name: 'chats', typeDefs: parse(CHATS_SDL), url: chatsUrl },
    ]);
    if (composed.errors) throw new Error(`composition failed: ${composed.errors.map((e) => e.message).join('; ')}`);

    const gateway = new ApolloGateway({
      supergraphSdl: composed.supergraphSdl,
      buildService: ({ name, url }) =>
        new RemoteGraphQLDataSource<{ authorization?: string }>({
          url,
          willSendRequest({ request, context }) {
            if (name === 'sessions') subgraphFetches++;
            if (context.authorization) request.http?.headers.set('authorization', context.authorization);
          },
        }),
    });
    apollo = new ApolloServer({
      gateway,
      includeStacktraceInErrorResponses: false,
      // What Apollo's usage reporting does: capture traces, so that the gateway asks each subgraph
      // for its inline trace (apollo-federation-include-trace: ftv1) and puts it in the plan's trace.
      plugins: [
        {
          async requestDidStart(request) {
            request.metrics.captureTraces = true;
            return {
              async willSendResponse(response) {
                planTrace = response.metrics.queryPlanTrace;
              },
            };
          },
        },
      ],
    });
    const { url } = await startStandaloneServer(apollo, {
      listen: { port: 0, host: '127.0.0.1' },
      context: async ({ req }) => ({ authorization: req.headers.authorization }),
    });
    gatewayUrl = url;
  });

  afterAll(async () => {
    await apollo?.stop();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await t?.close();
  });

  const viaGateway = async (query: string, credential?: string) => {
    const response = await fetch(gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
      body: JSON.stringify({ query }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string; path?: (string | number)[]; extensions?: any }[] };
  };

  it(`resolves ${CHATS} references in one subgraph fetch and one SQL statement`, async () => {
    await t.gql('{ session(id: "warm") { id } }', {}, env.secretKey);
    t.queries.length = 0;
    subgraphFetches = 0;
    const body = await viaGateway('{ chats { id session { id externalId tags version } } }', env.secretKey);
    expect(body.errors).toBeUndefined();
    expect(body.data.chats).toHaveLength(CHATS);
    body.data.chats.forEach((chat: any, i: number) => {
      expect(chat.session).toEqual({ id: chats[i]!.sessionId, externalId: `apollo-${i}`, tags: [`n:${i}`], version: 1 });
    });
    expect(subgraphFetches).toBe(1);
    expect(t.sessionQueries()).toHaveLength(1);
  });

  it('lets a public token read its own session through the gateway, the others null with FORBIDDEN', async () => {
    const { publicAccessToken } = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'apollo-5' }));
    const body = await viaGateway('{ chats { id session { id tags } } }', publicAccessToken);
    // Our answer keeps its data (200), so the gateway keeps session 5 beside the refused ones.
    expect(body.data.chats[5].session).toEqual({ id: chats[5]!.sessionId, tags: ['n:5'] });
    expect(body.data.chats.filter((c: any) => c.session !== null)).toHaveLength(1);
    expect(body.errors?.length).toBeGreaterThan(0);
    expect(body.errors!.every((e) => e.extensions?.code === 'FORBIDDEN')).toBe(true);
  });

  it('gives the gateway this subgraph’s inline trace (ftv1) when it captures traces', async () => {
    planTrace = undefined;
    const body = await viaGateway('{ chats { id session { id tags } } }', env.secretKey);
    expect(body.errors).toBeUndefined();
    const fetches = fetchesOf(planTrace);
    const ours = fetches.find((f) => f.serviceName === 'sessions');
    expect(ours?.trace, 'the sessions subgraph’s fetch carries its trace').toBeDefined();
    expect(Number(ours!.trace!.durationNs)).toBeGreaterThan(0);
    expect(ours!.trace!.root!.child!.map((node) => node.responseName)).toContain('_entities');
  });

  it('refuses without credentials, leaking no session field', async () => {
    const body = await viaGateway('{ chats { id session { id tags } } }');
    expect(body.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')).toBe(true);
    expect(JSON.stringify(body.data ?? null)).not.toContain('n:0');
  });
});

/** The fetch nodes of a query plan's trace, wherever they sit. */
function fetchesOf(node: any): { serviceName: string; trace?: { durationNs: unknown; root?: { child?: { responseName: string }[] } } }[] {
  if (!node || typeof node !== 'object') return [];
  if (node.fetch) return [node.fetch];
  return Object.values(node).flatMap((value) => (Array.isArray(value) ? value.flatMap(fetchesOf) : fetchesOf(value)));
}
