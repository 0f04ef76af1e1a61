import { MAX_FILTER_VALUES, PAGE_SIZE } from '../sessions/limits.js';
import type { SessionPage } from '../sessions/service.js';
import { builder } from './builder.js';
import { SessionRef, SessionStatus } from './session.js';

const values = `at most ${MAX_FILTER_VALUES} values`;

const SessionFilter = builder.inputType('SessionFilter', {
  description: `Filters combine with AND; a list matches any of its values (${values}); an empty list matches nothing.`,
  fields: (t) => ({
    type: t.stringList({ description: 'Sessions of any of these types.' }),
    tags: t.stringList({ description: 'Matches sessions that carry any of these tags.' }),
    taskIdentifier: t.stringList({ description: 'Sessions of any of these tasks.' }),
    externalId: t.string({ description: 'The session with this externalId (trimmed).' }),
    status: t.field({ type: [SessionStatus], description: 'Sessions in any of these states.' }),
    createdAfter: t.field({ type: 'DateTime', description: 'Created strictly after this time.' }),
    createdBefore: t.field({ type: 'DateTime', description: 'Created strictly before this time.' }),
  }),
});

const PageInfo = builder.objectRef<SessionPage['pageInfo']>('PageInfo').implement({
  description: 'Where a page sits in the whole list (Relay cursor connections).',
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage', { description: 'More (older) sessions follow: pass endCursor as after.' }),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage', {
      description: 'Newer sessions precede this page: pass startCursor as before, with last.',
    }),
    startCursor: t.exposeString('startCursor', { nullable: true, description: 'Cursor of the first edge; null on an empty page.' }),
    endCursor: t.exposeString('endCursor', { nullable: true, description: 'Cursor of the last edge; null on an empty page.' }),
  }),
});

const SessionEdge = builder.objectRef<SessionPage['edges'][number]>('SessionEdge').implement({
  description: 'A session in a page, with its cursor.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Opaque position of this session in the list.' }),
    node: t.expose('node', { type: SessionRef, description: 'The session.' }),
  }),
});

const SessionConnection = builder.objectRef<SessionPage>('SessionConnection').implement({
  description: 'One page of sessions, newest first.',
  fields: (t) => ({
    edges: t.expose('edges', { type: [SessionEdge], description: 'The sessions of this page, in order.' }),
    pageInfo: t.expose('pageInfo', { type: PageInfo, description: 'Whether more pages follow or precede.' }),
  }),
});

const size = `${PAGE_SIZE.min} to ${PAGE_SIZE.max}`;

builder.queryField('sessions', (t) =>
  t.field({
    type: SessionConnection,
    description: `Newest first (createdAt, then id, descending). first/last: ${size}, default ${PAGE_SIZE.default}.`,
    args: {
      filter: t.arg({ type: SessionFilter, description: 'Which sessions; all of the environment when omitted.' }),
      first: t.arg.int({ description: `Page size going forward (older), ${size}; default ${PAGE_SIZE.default}.` }),
      after: t.arg.string({ description: 'Cursor to continue after (an endCursor).' }),
      last: t.arg.int({ description: `Page size going backward (newer), ${size}; not with first.` }),
      before: t.arg.string({ description: 'Cursor to page back from (a startCursor); not with after.' }),
    },
    resolve: async (_, args, ctx) => ctx.sessions.list(await ctx.principal(), args),
  }),
);
