import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { graphql } from 'graphql';
import { printSchema, schema } from '../src/graphql/schema.js';

const root = new URL('..', import.meta.url).pathname;

describe('schema.graphql', () => {
  it('is the schema printed from the code (run `npm run print-schema` after changing it)', () => {
    expect(readFileSync(`${root}schema.graphql`, 'utf8')).toBe(printSchema() + '\n');
  });

  it('is exactly what _service { sdl } serves to a gateway', async () => {
    const result = (await graphql({ schema, source: '{ _service { sdl } }' })) as { data: { _service: { sdl: string } } };
    expect(result.data._service.sdl + '\n').toBe(readFileSync(`${root}schema.graphql`, 'utf8'));
  });

  it.runIf(existsSync(`${root}../shared/tools/check-contract.mjs`))('keeps the public contract', () => {
    const out = execFileSync(
      'node',
      [
        '../shared/tools/check-contract.mjs',
        'schema.graphql',
        '--skip',
        'Subscription',
      ],
      { cwd: root, encoding: 'utf8' },
    );
    expect(out).toMatch(/contract kept/);
  });
});
