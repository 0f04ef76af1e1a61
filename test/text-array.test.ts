import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { parseTextArray } from '../src/db/text-array.js';
import { drivers, startTestApp, type TestApp, UPDATE } from './support.js';

/** Tags PostgreSQL must quote or escape in an array's text form. */
const AWKWARD = ['a\\', '\\\\', 'back\\slash', '"quoted"', 'b,c', '{}', '{a}', ' ', ' lead', 'NULL', 'null', '', '😀', 'tab\there'];

describe('parseTextArray', () => {
  it('reads PostgreSQL’s text form of a text[]: quotes, backslash escapes, NULL, the empty array', () => {
    expect(parseTextArray('{}')).toEqual([]);
    expect(parseTextArray('{a,b}')).toEqual(['a', 'b']);
    expect(parseTextArray('{"a\\\\","b\\"c","d,e",NULL,"NULL",""}')).toEqual(['a\\', 'b"c', 'd,e', null, 'NULL', '']);
  });
});

describe.each(drivers)('tags that need quoting or escaping, on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(() => t?.close());

  it('come back exactly as sent, from the answer and from the stored row', async () => {
    const s = await t.createSession(env.secretKey);
    for (let i = 0; i < AWKWARD.length; i += 5) {
      const tags = AWKWARD.slice(i, i + 5);
      const { body } = await t.gql(UPDATE, { id: s.id, input: { tags } }, env.secretKey);
      expect(body.data.updateSession.session.tags).toEqual(tags);
      expect((await t.row(env.environmentId, s.id))!.tags).toEqual(tags);
      const read = await t.gql('query($id: ID!) { session(id: $id) { tags } }', { id: s.id }, env.secretKey);
      expect(read.body.data.session.tags).toEqual(tags);
    }
  });
});
