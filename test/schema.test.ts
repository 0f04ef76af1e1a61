import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { graphql, isEnumType, isInputObjectType, isInterfaceType, isObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { printSchema, schema } from '../src/graphql/schema.js';

const root = new URL('..', import.meta.url).pathname;

describe('schema.graphql', () => {
  it('is the schema printed from the code (run `npm run print-schema` after changing it)', () => {
    expect(readFileSync(`${root}schema.graphql`, 'utf8')).toBe(`${printSchema()}\n`);
  });

  it('is exactly what _service { sdl } serves to a gateway', async () => {
    const result = (await graphql({ schema, source: '{ _service { sdl } }' })) as { data: { _service: { sdl: string } } };
    expect(`${result.data._service.sdl}\n`).toBe(readFileSync(`${root}schema.graphql`, 'utf8'));
  });

  it('describes every type, field, argument and enum value a client sees', () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__')) continue; // introspection's own, described by graphql-js
      if (!type.description) missing.push(type.name);
      if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of 'args' in field ? field.args : []) {
            if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
          }
        }
      }
      if (isEnumType(type)) for (const value of type.getValues()) if (!value.description) missing.push(`${type.name}.${value.name}`);
    }
    expect(missing).toEqual([]);
  });

  it.runIf(existsSync(`${root}../shared/tools/check-contract.mjs`))('keeps the public contract', () => {
    const out = execFileSync('node', ['../shared/tools/check-contract.mjs', 'schema.graphql'], { cwd: root, encoding: 'utf8' });
    expect(out).toMatch(/contract kept/);
  });
});
