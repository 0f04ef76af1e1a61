/**
 * Writes the reference tables that are generated from the code into README.md and docs/API.md,
 * each between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`: the settings (from the
 * schema in src/config.ts) and the database conditions (from src/db/conditions.ts).
 * `npm run docs:config` writes them; test/docs.test.ts fails while a file differs from what this
 * would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { SETTINGS_SCHEMA, type SettingMeta } from '../src/config.js';
import { CONDITIONS, type ConditionSpec, STARTUP_RETRY } from '../src/db/conditions.js';

const root = new URL('..', import.meta.url).pathname;

interface JsonSchema {
  type?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  enum?: unknown[];
}

const code = (value: unknown) => `\`${String(value)}\``;

/** What a variable takes, as its schema says it. */
function accepts(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map(code).join(' or ');
  if (schema.type === 'integer' || schema.type === 'number') {
    const kind = schema.type === 'integer' ? 'integer' : 'number';
    const min =
      schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + (kind === 'integer' ? 1 : 0) : undefined);
    // zod's int() bounds every integer by the safe range: no bound of ours.
    const max = schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER ? schema.maximum : undefined;
    if (min !== undefined && max !== undefined) return `${kind}, ${min} to ${max}`;
    if (min !== undefined) return `${kind}, at least ${min}`;
    return kind;
  }
  return 'text';
}

export function settingsTable(): string {
  const json = z.toJSONSchema(SETTINGS_SCHEMA, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, JsonSchema> };
  const rows = Object.entries(SETTINGS_SCHEMA.shape).map(([name, schema]) => {
    const meta = z.globalRegistry.get(schema) as SettingMeta | undefined;
    if (!meta?.description) throw new Error(`${name} in src/config.ts has no description`);
    const property = json.properties[name]!;
    const shownDefault = meta.defaultText ?? (property.default === undefined ? 'unset' : code(property.default));
    return `| \`${name}\` | ${shownDefault} | ${accepts(property)} | ${meta.description} |`;
  });
  return ['| variable | default | accepts | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function conditionsTable(): string {
  const example = { server: 'HOST:PORT', host: 'HOST', port: 'PORT', database: 'DATABASE', user: 'ROLE', tls: true };
  const rows = Object.entries(CONDITIONS as Record<string, ConditionSpec>).map(([name, spec]) => {
    const codes = spec.codes.map(code).join(', ') + (spec.when ? `, when ${spec.when}` : '');
    const { healing, lasting } = STARTUP_RETRY;
    const heals = spec.heals
      ? `yes: retried at most ${healing.maxRetryMs / 1000} s apart, logged every ${healing.logEveryMs / 1000} s`
      : `no: retried every ${lasting.retryMs / 1000} s, logged every ${lasting.logEveryMs / 1000} s`;
    return `| \`${name}\` | ${spec.title} | ${codes} | ${heals} | ${spec.explain(example)} |`;
  });
  return ['| condition | says | told by | can pass by itself | what it says to do |', '| --- | --- | --- | --- | --- |', ...rows].join(
    '\n',
  );
}

/** Each file and the generated sections it holds. */
export function generatedSections(): Record<string, Record<string, string>> {
  const settings = settingsTable();
  return {
    'README.md': { settings },
    'docs/API.md': { settings, 'database-conditions': conditionsTable() },
  };
}

/** `text` with each section's body replaced; a missing marker is an error, not a silent skip. */
export function withSections(file: string, text: string, sections: Record<string, string>): string {
  let result = text;
  for (const [name, body] of Object.entries(sections)) {
    const open = `<!-- generated:${name} (npm run docs:config writes this table; edit the code it comes from) -->`;
    const close = `<!-- /generated:${name} -->`;
    const start = result.indexOf(open);
    const end = result.indexOf(close);
    if (start === -1 || end < start) throw new Error(`${file} has no ${open} … ${close} section`);
    result = `${result.slice(0, start + open.length)}\n${body}\n${result.slice(end)}`;
  }
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const [file, sections] of Object.entries(generatedSections())) {
    const path = `${root}${file}`;
    const before = readFileSync(path, 'utf8');
    const after = withSections(file, before, sections);
    if (after !== before) writeFileSync(path, after);
    console.log(`${file}: ${after === before ? 'up to date' : 'written'}`);
  }
}
