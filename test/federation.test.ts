import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { composeServices } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../src/app.js';
import type { NewEnvironment } from '../src/auth/environments.js';
import { baseCreateInput, drivers, startTestApp, type TestApp } from './support.js';

/** A second subgraph, as another team would write it: chats that point at our sessions. */
const CHATS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
  type Chat @key(fields: "id") {
    id: ID!
    title: String!
    session: Session
  }
  type Session @key(fields: "id", resolvable: false) {
    id: ID!
  }
  type Query {
    chats: [Chat!]!
  }
`;

/** A third subgraph that knows sessions only by the caller's own id, Trigger.dev's addressing key. */
const NOTES_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
  type Note @key(fields: "id") {
    id: ID!
    text: String!
    session: Session
  }
  type Session @key(fields: "externalId", resolvable: false) {
    externalId: String!
  }
  type Query {
    notes: [Note!]!
  }
`;

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.each(drivers)('federation through a real gateway on %s', (driver) => {
  let t: TestApp;
  let mine: NewEnvironment;
  let theirs: NewEnvironment;
  const chats: { id: string; title: string; sessionId: string }[] = [];
  const servers: Server[] = [];
  let gatewayUrl: string;

  beforeAll(async () => {
    t = await startTestApp(driver);
    mine = await t.newEnvironment();
    theirs = await t.newEnvironment();
    for (let i = 0; i < 100; i++) {
      const s = await t.createSession(mine.secretKey, baseCreateInput({ tags: [`chat:${i}`], externalId: `chat-${i}` }));
      chats.push({ id: `c${i}`, title: `Chat ${i}`, sessionId: s.id });
    }
    const foreign = await t.createSession(theirs.secretKey, baseCreateInput({ tags: ['secret'], externalId: 'theirs-0' }));
    chats.push({ id: 'foreign', title: 'Points at another environment', sessionId: foreign.id });
    chats.push({ id: 'dangling', title: 'Points at nothing', sessionId: 'session_doesnotexist' });

    const sessions = await listen(t.app, 0, '127.0.0.1');
    servers.push(sessions.server);
    const chatYoga = createYoga({
      schema: buildSubgraphSchema({
        typeDefs: parse(CHATS_SDL),
        resolvers: {
          Query: { chats: () => chats },
          Chat: { session: (chat: { sessionId: string }) => ({ __typename: 'Session', id: chat.sessionId }) },
        },
      }),
    });
    const chatServer = await serve(chatYoga);
    servers.push(chatServer.server);
    const notes = [
      { id: 'n0', text: 'by externalId', externalId: 'chat-0' },
      { id: 'n7', text: 'by externalId', externalId: 'chat-7' },
      { id: 'nx', text: 'a friendly id in the externalId key', externalId: chats[3]!.sessionId },
      { id: 'nf', text: 'another environment only', externalId: 'theirs-0' },
    ];
    const noteYoga = createYoga({
      schema: buildSubgraphSchema({
        typeDefs: parse(NOTES_SDL),
        resolvers: {
          Query: { notes: () => notes },
          Note: { session: (note: { externalId: string }) => ({ __typename: 'Session', externalId: note.externalId }) },
        },
      }),
    });
    const noteServer = await serve(noteYoga);
    servers.push(noteServer.server);

    // Our SDL as a gateway's build step gets it: _service { sdl }, no credentials needed.
    const sdlResponse = await fetch(`${sessions.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ _service { sdl } }' }),
    });
    const sdl = ((await sdlResponse.json()) as { data: { _service: { sdl: string } } }).data._service.sdl;
    const composed = composeServices([
      { name: 'sessions', typeDefs: parse(sdl), url: `${sessions.url}/graphql` },
      { name: 'chats', typeDefs: parse(CHATS_SDL), url: `${chatServer.url}/graphql` },
      { name: 'notes', typeDefs: parse(NOTES_SDL), url: `${noteServer.url}/graphql` },
    ]);
    if (composed.errors) throw new Error(`composition failed: ${composed.errors.map((e) => e.message).join('; ')}`);

    const gateway = createGatewayRuntime({
      supergraph: composed.supergraphSdl,
      logging: false,
      propagateHeaders: {
        fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') }),
      },
    });
    const gatewayServer = await serve(gateway);
    servers.push(gatewayServer.server);
    gatewayUrl = `${gatewayServer.url}/graphql`;
  });

  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await t?.close();
  });

  const viaGateway = async (query: string, credential?: string) => {
    type GatewayError = { message: string; path?: (string | number)[]; extensions?: { code?: string } };
    const response = await fetch(gatewayUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
      },
      body: JSON.stringify({ query }),
    });
    return (await response.json()) as { data?: any; errors?: GatewayError[] };
  };

  it('resolves session fields from the chats subgraph through _entities, in one SQL statement for 100', async () => {
    await viaGateway('{ chats { id } }', mine.secretKey);
    await t.gql('{ session(id: "warm-the-key-cache") { id } }', {}, mine.secretKey);
    t.queries.length = 0;
    const body = await viaGateway('{ chats { id title session { id externalId tags status version } } }', mine.secretKey);
    // The gateway reports the two sessions that resolve to null (another environment's, an
    // unknown one) as nulls at their own paths; ours all resolve.
    for (const error of body.errors ?? []) expect(error.path?.[1]).toBeGreaterThanOrEqual(100);
    const byChat = new Map(body.data.chats.map((c: any) => [c.id, c.session]));
    for (let i = 0; i < 100; i++) {
      expect(byChat.get(`c${i}`)).toEqual({
        id: chats[i]!.sessionId,
        externalId: `chat-${i}`,
        tags: [`chat:${i}`],
        status: 'ACTIVE',
        version: 1,
      });
    }
    // 102 representations (100 of ours, one of another environment, one unknown): one statement.
    expect(t.sessionQueries()).toHaveLength(1);
  });

  it('resolves sessions a subgraph references by externalId, and only by externalId', async () => {
    await t.gql('{ session(id: "warm") { id } }', {}, mine.secretKey);
    t.queries.length = 0;
    const body = await viaGateway('{ notes { id session { id externalId tags } } }', mine.secretKey);
    const byNote = new Map(body.data.notes.map((n: any) => [n.id, n.session]));
    expect(byNote.get('n0')).toEqual({ id: chats[0]!.sessionId, externalId: 'chat-0', tags: ['chat:0'] });
    expect(byNote.get('n7')).toEqual({ id: chats[7]!.sessionId, externalId: 'chat-7', tags: ['chat:7'] });
    // A friendly id is no externalId, and another environment's externalId is not ours.
    expect(byNote.get('nx')).toBeNull();
    expect(byNote.get('nf')).toBeNull();
    expect(t.sessionQueries()).toHaveLength(1);
  });

  it("keeps environments apart through the gateway: another environment's session and an unknown id are null", async () => {
    const body = await viaGateway('{ chats { id session { id tags } } }', mine.secretKey);
    const byChat = new Map(body.data.chats.map((c: any) => [c.id, c.session]));
    expect(byChat.get('foreign')).toBeNull();
    expect(byChat.get('dangling')).toBeNull();
    const seenByThem = await viaGateway('{ chats { id session { id tags } } }', theirs.secretKey);
    const theirView = new Map(seenByThem.data.chats.map((c: any) => [c.id, c.session]));
    expect(theirView.get('foreign')).toMatchObject({ tags: ['secret'] });
    expect(theirView.get('c0')).toBeNull();
  });

  it('forwards Authorization: without it the session fields are refused as UNAUTHENTICATED', async () => {
    // Only `id` is known to the chats subgraph; `tags` must come from ours, with credentials.
    const body = await viaGateway('{ chats { id session { id tags } } }');
    expect(body.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')).toBe(true);
    expect(JSON.stringify(body.data ?? null)).not.toContain('chat:0');
  });

  it('resolves the id key by friendly id only and the externalId key by externalId only, both kinds in one statement', async () => {
    await t.gql('{ session(id: "warm") { id } }', {}, mine.secretKey);
    t.queries.length = 0;
    const representations = [
      { __typename: 'Session', id: chats[1]!.sessionId },
      { __typename: 'Session', id: 'chat-1' }, // an externalId in the id key: no such id
      { __typename: 'Session', externalId: 'chat-2' },
      { __typename: 'Session', externalId: chats[2]!.sessionId }, // a friendly id is no externalId
      { __typename: 'Session', externalId: 'nobody' },
    ];
    const { status, body } = await t.gql(
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Session { id externalId } } }',
      { r: representations },
      mine.secretKey,
    );
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data._entities).toEqual([
      { id: chats[1]!.sessionId, externalId: 'chat-1' },
      null,
      { id: chats[2]!.sessionId, externalId: 'chat-2' },
      null,
      null,
    ]);
    expect(t.sessionQueries()).toHaveLength(1);
  });

  it('answers _entities directly in the order given, unknown ids as null, in one statement', async () => {
    const ids = [chats[5]!.sessionId, 'session_nope', chats[2]!.sessionId, chats[100]!.sessionId];
    await t.gql('{ session(id: "warm") { id } }', {}, mine.secretKey);
    t.queries.length = 0;
    const { body } = await t.gql(
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Session { id tags } } }',
      { r: ids.map((id) => ({ __typename: 'Session', id })) },
      mine.secretKey,
    );
    expect(body.errors).toBeUndefined();
    expect(body.data._entities).toEqual([
      { id: chats[5]!.sessionId, tags: ['chat:5'] },
      null,
      { id: chats[2]!.sessionId, tags: ['chat:2'] },
      null,
    ]);
    expect(t.sessionQueries()).toHaveLength(1);
  });
});
