import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { type SessionRow, sessions } from '../src/db/schema.js';
import { baseCreateInput, CREATE, drivers, GET, startTestApp, type TestApp, UPDATE } from './support.js';

/**
 * Property-based tests through HTTP. Each input is checked against a small model of the
 * contract: a success stores exactly what the model says, a refusal is typed and leaves the row
 * as it was, nothing is ever an internal error, and no answer shows a stack, SQL or a path.
 * `npm run fuzz` runs them with FUZZ_RUNS inputs each.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const params = { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }), endOnFailure: true };

const LEAK = /\bat [^\s]+ \(|\.(ts|js):\d+|Failed query|\bselect\b.*\bfrom\b|insert into|\/work\/|node_modules|postgres(ql)?:\/\//i;

// ---------------------------------------------------------------------------------------------
// The model: the contract's rules, written independently of src/.

const storable = (s: string) => !s.includes('\u0000') && s.isWellFormed();

/** Every string and object key in a value, however deep. */
function* texts(value: unknown): Generator<string> {
  const stack = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') yield v;
    else if (v && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        if (!Array.isArray(v)) yield k;
        stack.push(item);
      }
    }
  }
}

/** Every number in a value, however deep. */
function* numbers(value: unknown): Generator<number> {
  const stack = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'number') yield v;
    else if (v && typeof v === 'object') stack.push(...Object.values(v));
  }
}

/** A number JSON reads back as it was written: finite, within ±(2^53 − 1). */
const exact = (n: number) => Number.isFinite(n) && Math.abs(n) <= 2 ** 53 - 1;

function depth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, d + 1);
    for (const item of Object.values(v)) stack.push([item, d + 1]);
  }
  return deepest;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');

/** GraphQL's coercion of a [String!] variable: a lone string is a list of one; null stays null. */
function coerceStrings(v: unknown): { ok: boolean; value?: string[] | null } {
  if (v === null) return { ok: true, value: null };
  const list = Array.isArray(v) ? v : [v];
  return list.every((x) => typeof x === 'string') ? { ok: true, value: list as string[] } : { ok: false };
}

const isInt32 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;

interface StoredState {
  tags: string[];
  metadata: Record<string, unknown> | null;
  externalId: string | null;
  version: number;
}

type Expected = { kind: 'coercion' } | { kind: 'typename'; typename: string } | { kind: 'success'; next: StoredState };

const UPDATE_FIELDS = new Set(['tags', 'metadata', 'externalId', 'expectedVersion']);

function expectUpdate(state: StoredState, input: Record<string, unknown>): Expected {
  // 1. GraphQL coerces the variable (a failure is a top-level BAD_USER_INPUT).
  if (Object.keys(input).some((k) => !UPDATE_FIELDS.has(k))) return { kind: 'coercion' };
  const coerced: Record<string, unknown> = {};
  if ('tags' in input) {
    const tags = coerceStrings(input['tags']);
    if (!tags.ok) return { kind: 'coercion' };
    coerced['tags'] = tags.value;
  }
  if ('metadata' in input) {
    if (input['metadata'] !== null && !isObject(input['metadata'])) return { kind: 'coercion' };
    coerced['metadata'] = input['metadata'];
  }
  if ('externalId' in input) {
    if (input['externalId'] !== null && typeof input['externalId'] !== 'string') return { kind: 'coercion' };
    coerced['externalId'] = input['externalId'];
  }
  if ('expectedVersion' in input) {
    if (input['expectedVersion'] !== null && !isInt32(input['expectedVersion'])) return { kind: 'coercion' };
    coerced['expectedVersion'] = input['expectedVersion'];
  }
  // 2. Size, 3. shape.
  if (bytes(coerced) > 32768) return { kind: 'typename', typename: 'PayloadTooLargeError' };
  const tags = coerced['tags'] as string[] | null | undefined;
  const externalId = coerced['externalId'] as string | null | undefined;
  const trimmed = typeof externalId === 'string' ? externalId.trim() : externalId;
  const version = coerced['expectedVersion'] as number | null | undefined;
  const invalid =
    tags === null ||
    (tags !== undefined && (tags.length > 10 || tags.some((t) => t.length > 128))) ||
    (typeof trimmed === 'string' && (trimmed.length === 0 || trimmed.length > 256 || trimmed.startsWith('session_'))) ||
    (typeof version === 'number' && version < 1) ||
    depth(coerced['metadata']) > 64 ||
    [...texts(coerced)].some((s) => !storable(s)) ||
    [...numbers(coerced)].some((n) => !exact(n));
  if (invalid) return { kind: 'typename', typename: 'InvalidInputError' };
  // 5. externalId read-only, 6. the precondition, 7. the write.
  if (externalId !== undefined && trimmed !== state.externalId) return { kind: 'typename', typename: 'ExternalIdImmutableError' };
  if (typeof version === 'number' && version !== state.version) return { kind: 'typename', typename: 'VersionConflictError' };
  const write = tags !== undefined || coerced['metadata'] !== undefined;
  return {
    kind: 'success',
    next: {
      tags: tags ?? state.tags,
      metadata: coerced['metadata'] === undefined ? state.metadata : (coerced['metadata'] as Record<string, unknown> | null),
      externalId: state.externalId,
      version: state.version + (write ? 1 : 0),
    },
  };
}

/** JSON compared as jsonb keeps it: keys in any order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    isObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

// ---------------------------------------------------------------------------------------------
// Inputs

const nasty = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '  padded  ',
  'session_x',
  ' session_y',
  '\u00a0nbsp\u00a0',
  '😀'.repeat(64),
  '😀'.repeat(65),
  'a'.repeat(128),
  'a'.repeat(129),
  'e'.repeat(256),
  'e'.repeat(257),
  '__proto__',
  'constructor',
  "'; drop table sessions; --",
  '%s%n',
);
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 2, arbitrary: nasty },
);
const key = fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString'));

function nested(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) v = { a: v };
  return v;
}

const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    text,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
})).value;

const metadata = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(key, json, { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 70 }).map(nested) },
  { weight: 1, arbitrary: fc.integer({ min: 32_700, max: 33_000 }).map((n) => ({ p: 'x'.repeat(n) })) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([], [1], 'text', 5, true) },
  { weight: 3, arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')) },
);

const tags = fc.oneof(
  { weight: 6, arbitrary: fc.array(text, { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: text },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([1], 5, [null], {}, Array(11).fill('t')) },
);

function updateInput(current: { externalId: string; version: () => number }) {
  const fields = fc.record(
    {
      tags,
      metadata,
      externalId: fc.oneof(
        { weight: 4, arbitrary: fc.constant(current.externalId) },
        { weight: 2, arbitrary: fc.constant(`  ${current.externalId} `) },
        { weight: 1, arbitrary: fc.constant(null) },
        { weight: 2, arbitrary: text },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(5, []) },
      ),
      expectedVersion: fc.oneof(
        { weight: 2, arbitrary: fc.constant(null) },
        { weight: 5, arbitrary: fc.constant('current') },
        { weight: 2, arbitrary: fc.integer({ min: -3, max: 3 }) },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(2 ** 31, 1.5, '2') },
      ),
    },
    { requiredKeys: [] },
  );
  // One input in twenty also names a field the type does not have.
  return fc.tuple(fields, fc.nat(19)).map(([input, n]) => {
    const out: Record<string, unknown> = { ...input };
    if (out['expectedVersion'] === 'current') out['expectedVersion'] = current.version();
    if (n === 0) out['unknownField'] = 'x';
    return out;
  });
}

// Inline literals: object keys are GraphQL names, the hostile ones among them; strings are the
// ones written to break out of generated code. (A lone surrogate has no GraphQL string form.)

const BREAKOUT = '__MAGIC_DATE__33a9e76d_02e0_4128_8e92_3530ad3da74d0)&&(globalThis.polluted=1)&&(0';
const literalKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'polluted'),
  fc.stringMatching(/^[_A-Za-z][_0-9A-Za-z]{0,8}$/),
);
const literalText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom(
    BREAKOUT,
    '"+(globalThis.polluted=1)+"',
    '${globalThis.polluted=1}',
    '`',
    '\\',
    '\\u0041',
    '*/',
    '\u2028',
    'a\u0000b',
    '😀',
  ),
);
const literalJson = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    literalText,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(literalKey, tie('value'), { maxKeys: 4 }),
  ),
})).value;
const literalInput = fc.record(
  {
    tags: fc.oneof(fc.array(literalText, { maxLength: 11 }), fc.constant(null)),
    metadata: fc.oneof(
      { weight: 5, arbitrary: fc.dictionary(literalKey, literalJson, { maxKeys: 5 }) },
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.integer({ min: 32_700, max: 32_800 }).map((n) => ({ __proto__pad: 'x'.repeat(n) })) },
    ),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<{ tags?: string[] | null; metadata?: Record<string, unknown> | null }>;

/** A JSON value as a GraphQL literal (GraphQL's string escapes are JSON's). */
function toLiteral(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(toLiteral).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{ ${Object.keys(value)
      .map((k) => `${k}: ${toLiteral((value as Record<string, unknown>)[k])}`)
      .join(', ')} }`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------

describe.each(drivers)('properties through HTTP on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(() => t?.close());

  async function send(query: string, variables: Record<string, unknown>) {
    const response = await t.fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.secretKey}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] };
    // Data echoes what was sent; errors and typed failures are ours, and must not leak.
    expect(JSON.stringify(body.errors ?? [])).not.toMatch(LEAK);
    for (const result of Object.values(body.data ?? {}) as { __typename?: string; message?: string }[]) {
      if (result?.__typename?.endsWith('Error')) expect(result.message ?? '').not.toMatch(LEAK);
    }
    for (const error of body.errors ?? []) expect(error.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
    return { status: response.status, body };
  }

  const stateOf = (row: SessionRow): StoredState => ({
    tags: row.tags,
    metadata: row.metadata,
    externalId: row.externalId,
    version: row.version,
  });

  it(`updateSession: ${RUNS} arbitrary inputs, each a modelled success or a typed refusal with the row unchanged`, async () => {
    const externalId = 'fuzz-update';
    const created = await t.createSession(env.secretKey, baseCreateInput({ externalId }));
    let state = stateOf(created);
    const ids = [created.id, externalId];
    const outcomes: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(updateInput({ externalId, version: () => state.version }), fc.nat(1), async (input, which) => {
        const expected = expectUpdate(state, input);
        const outcome = expected.kind === 'typename' ? expected.typename : expected.kind;
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        const { status, body } = await send(UPDATE, { id: ids[which]!, input });
        const row = (await t.row(env.environmentId, created.id))!;
        if (expected.kind === 'coercion') {
          expect(body).not.toHaveProperty('data');
          expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
        } else {
          expect(status).toBe(200);
          const result = body.data.updateSession;
          if (expected.kind === 'typename') {
            expect(result.__typename).toBe(expected.typename);
          } else {
            expect(result.__typename).toBe('UpdateSessionSuccess');
            state = expected.next;
            expect(result.session.version).toBe(state.version);
          }
        }
        // A refusal changed nothing; a success stored exactly the model.
        expect(row.version).toBe(state.version);
        expect(row.tags).toEqual(state.tags);
        expect(canonical(row.metadata)).toBe(canonical(state.metadata));
        expect(row.externalId).toBe(state.externalId);
      }),
      params,
    );
    // The inputs reach every outcome, not only refusals.
    expect(outcomes['success']).toBeGreaterThan(0);
    expect(outcomes['InvalidInputError']).toBeGreaterThan(0);
    if (process.env.FUZZ_RUNS) console.info(`updateSession outcomes on ${driver}: ${JSON.stringify(outcomes)}`);
  }, 600_000);

  it(`updateSession written as an inline literal: ${RUNS} hostile inputs, each answered and stored as the same input sent as variables`, async () => {
    const [asLiteral, asVariables] = [await t.createSession(env.secretKey), await t.createSession(env.secretKey)];
    const selection = '{ __typename ... on PayloadTooLargeError { actualBytes } ... on InvalidInputError { issues { path message } } }';
    const outcomes: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(literalInput, async (input) => {
        const literalQuery = `mutation { updateSession(id: ${JSON.stringify(asLiteral.id)}, input: ${toLiteral(input)}) ${selection} }`;
        const viaLiteral = await send(literalQuery, {});
        const viaVariables = await send(
          `mutation($id: ID!, $input: UpdateSessionInput!) { updateSession(id: $id, input: $input) ${selection} }`,
          { id: asVariables.id, input },
        );
        expect(viaLiteral.body).toEqual(viaVariables.body);
        const typename = viaLiteral.body.data?.updateSession?.__typename ?? viaLiteral.body.errors?.[0]?.extensions?.code;
        outcomes[typename] = (outcomes[typename] ?? 0) + 1;
        const [a, b] = [(await t.row(env.environmentId, asLiteral.id))!, (await t.row(env.environmentId, asVariables.id))!];
        expect(a.version).toBe(b.version);
        expect(a.tags).toEqual(b.tags);
        expect(canonical(a.metadata)).toBe(canonical(b.metadata));
        if (typename === 'UpdateSessionSuccess' && input.metadata !== undefined)
          expect(canonical(a.metadata)).toBe(canonical(input.metadata));
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      }),
      params,
    );
    expect(outcomes['UpdateSessionSuccess']).toBeGreaterThan(0);
    if (process.env.FUZZ_RUNS) console.info(`literal updateSession outcomes on ${driver}: ${JSON.stringify(outcomes)}`);
  }, 600_000);

  it(`createSession: ${RUNS} arbitrary inputs, each stored as the model says or refused creating nothing`, async () => {
    const count = () => t.app.database.db.$count(sessions, eq(sessions.environmentId, env.environmentId));
    let fresh = 0;
    const created = new Map<string, { version: number; config: string }>();
    const input = fc.record(
      {
        type: fc.oneof(text, fc.constant('chat.agent')),
        taskIdentifier: fc.oneof(text, fc.constant('my-chat')),
        tags,
        metadata,
        externalId: fc.oneof(fc.constant('new'), text),
        triggerConfig: fc.record(
          {
            basePayload: metadata,
            machine: fc.oneof(fc.constantFrom('micro', 'large-2x', 'huge'), text),
            maxAttempts: fc.oneof(fc.integer({ min: -1, max: 12 }), fc.constant(1.5)),
            idleTimeoutInSeconds: fc.integer({ min: 0, max: 3601 }),
            queue: text,
          },
          { requiredKeys: ['basePayload'] },
        ),
      },
      { requiredKeys: ['type', 'taskIdentifier', 'triggerConfig'] },
    );
    await fc.assert(
      fc.asyncProperty(input, async (raw) => {
        const value = { ...raw } as Record<string, unknown>;
        // A fresh externalId each time, so a success is a new session.
        if (value['externalId'] === 'new') value['externalId'] = `fuzz-create-${++fresh}`;
        const before = await count();
        const sent = JSON.stringify({ query: CREATE, variables: { input: value } });
        const { body } = await send(CREATE, { input: value });
        const result = body.data?.createSession;
        if (result?.__typename === 'CreateSessionSuccess') {
          const row = (await t.row(env.environmentId, result.session.id))!;
          const config = canonical(row.triggerConfig);
          const earlier = row.externalId === null ? undefined : created.get(row.externalId);
          // A repeated externalId finds the open session, its config refreshed (a write only if it changed).
          expect(result.isCached).toBe(earlier !== undefined);
          expect(row.version).toBe(earlier ? earlier.version + (earlier.config === config ? 0 : 1) : 1);
          if (row.externalId !== null) created.set(row.externalId, { version: row.version, config });
          if (!earlier) {
            expect(await count()).toBe(before + 1);
            expect(row.type).toBe(value['type']);
            expect(row.taskIdentifier).toBe(value['taskIdentifier']);
            expect(row.externalId).toBe(typeof value['externalId'] === 'string' ? value['externalId'].trim() : null);
            expect(canonical(row.metadata)).toBe(canonical(value['metadata'] ?? null));
          }
          expect(canonical(row.triggerConfig.basePayload)).toBe(canonical((value['triggerConfig'] as any).basePayload));
        } else {
          expect(await count()).toBe(before);
          if (result) expect(['InvalidInputError', 'PayloadTooLargeError']).toContain(result.__typename);
          else if (Buffer.byteLength(sent) > 65536) expect(body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
          else expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
        }
      }),
      params,
    );
  }, 600_000);

  it(`a model-based run of create, update, close and read with concurrent bursts (${Math.max(5, Math.ceil(RUNS / 10))} sequences)`, async () => {
    interface Model {
      sessions: Map<string, StoredState & { closed: boolean }>;
    }
    interface Real {
      /** Each sequence names its own sessions. */
      prefix: string;
      ids: string[];
    }
    let sequence = 0;

    class Create implements fc.AsyncCommand<Model, Real> {
      constructor(readonly index: number) {}
      check = () => true;
      async run(m: Model, r: Real) {
        const externalId = `${r.prefix}-${this.index}`;
        const { body } = await send(CREATE, { input: baseCreateInput({ externalId, tags: ['new'] }) });
        const result = body.data.createSession;
        const known = m.sessions.get(externalId);
        if (known?.closed) return void expect(result.__typename).toBe('SessionClosedError');
        expect(result.__typename).toBe('CreateSessionSuccess');
        expect(result.isCached).toBe(known !== undefined);
        if (!known) {
          m.sessions.set(externalId, { tags: ['new'], metadata: null, externalId, version: 1, closed: false });
          r.ids.push(externalId);
        }
        expect(result.session.version).toBe(m.sessions.get(externalId)!.version);
      }
      toString = () => `create(${this.index})`;
    }
    class Burst implements fc.AsyncCommand<Model, Real> {
      constructor(
        readonly pick: number,
        readonly inputs: { tags?: string[]; metadata?: Record<string, unknown> | null }[],
      ) {}
      check = (m: Readonly<Model>) => m.sessions.size > 0;
      async run(m: Model, r: Real) {
        const id = r.ids[this.pick % r.ids.length]!;
        const state = m.sessions.get(id)!;
        const answers = await Promise.all(this.inputs.map((input) => send(UPDATE, { id, input })));
        const versions = answers.map((a) => a.body.data.updateSession.session.version).sort((a, b) => a - b);
        const writes = this.inputs.filter((i) => i.tags !== undefined || i.metadata !== undefined).length;
        // Concurrent writes never lose an increment; each saw its own version.
        const row = (await t.row(env.environmentId, id))!;
        expect(row.version).toBe(state.version + writes);
        expect(versions.at(-1)).toBe(state.version + writes);
        state.version += writes;
        state.tags = row.tags;
        state.metadata = row.metadata;
        // What is stored is one of the inputs, whole.
        if (writes > 0) {
          expect(this.inputs.some((i) => i.tags === undefined || JSON.stringify(i.tags) === JSON.stringify(row.tags))).toBe(true);
        }
      }
      toString = () => `burst(${this.pick}, ${JSON.stringify(this.inputs)})`;
    }
    class Close implements fc.AsyncCommand<Model, Real> {
      constructor(
        readonly pick: number,
        readonly reason: string,
      ) {}
      check = (m: Readonly<Model>) => m.sessions.size > 0;
      async run(m: Model, r: Real) {
        const id = r.ids[this.pick % r.ids.length]!;
        const state = m.sessions.get(id)!;
        const { body } = await send(
          `mutation($id: ID!, $r: String) { closeSession(id: $id, reason: $r) { __typename ... on CloseSessionSuccess { session { version closedReason status } } } }`,
          { id, r: this.reason },
        );
        const result = body.data.closeSession;
        expect(result.__typename).toBe('CloseSessionSuccess');
        expect(result.session.status).toBe('CLOSED');
        if (!state.closed) {
          state.closed = true;
          state.version += 1;
        }
        expect(result.session.version).toBe(state.version);
      }
      toString = () => `close(${this.pick})`;
    }
    class Read implements fc.AsyncCommand<Model, Real> {
      constructor(readonly pick: number) {}
      check = (m: Readonly<Model>) => m.sessions.size > 0;
      async run(m: Model, r: Real) {
        const id = r.ids[this.pick % r.ids.length]!;
        const state = m.sessions.get(id)!;
        const { body } = await send(GET, { id });
        expect(body.data.session).toMatchObject({ externalId: id, version: state.version, status: state.closed ? 'CLOSED' : 'ACTIVE' });
        expect(body.data.session.tags).toEqual(state.tags);
        expect(canonical(body.data.session.metadata)).toBe(canonical(state.metadata));
      }
      toString = () => `read(${this.pick})`;
    }

    const simpleUpdate = fc.record(
      {
        tags: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
        metadata: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 })),
      },
      { requiredKeys: [] },
    );
    const commands = [
      fc.nat(3).map((i) => new Create(i)),
      fc.tuple(fc.nat(), fc.array(simpleUpdate, { minLength: 1, maxLength: 6 })).map(([p, i]) => new Burst(p, i)),
      fc.tuple(fc.nat(), fc.string({ maxLength: 20 })).map(([p, reason]) => new Close(p, reason)),
      fc.nat().map((p) => new Read(p)),
    ];
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 12 }), (cmds) =>
        fc.asyncModelRun(() => ({ model: { sessions: new Map() }, real: { prefix: `m${++sequence}`, ids: [] } }), cmds),
      ),
      { ...params, numRuns: Math.max(5, Math.ceil(RUNS / 10)) },
    );
  }, 600_000);
});
