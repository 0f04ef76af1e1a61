import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildSchema, type GraphQLSchema, isAbstractType, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { generatedSections, withSections } from '../scripts/docs-config.js';
import { SETTINGS_SCHEMA } from '../src/config.js';
import { CONDITIONS } from '../src/db/conditions.js';
import { schema } from '../src/graphql/schema.js';
import { CONTRACT_STATUS } from '../src/http/errors.js';
import { ROUTES } from '../src/http/rest/routes.js';

/**
 * Keeps docs/API.md honest without a server: its possibleTypes object, its status table and its
 * GraphQL examples are checked against the code.
 */
const root = new URL('..', import.meta.url).pathname;
const doc = readFileSync(`${root}docs/API.md`, 'utf8');

/** The body of every fenced block of `lang` that follows the HTML comment `marker`. */
function markedBlocks(marker: string, lang: string): string[] {
  const pattern = new RegExp(`<!-- ${marker} -->\\s*\`\`\`${lang}\\n([\\s\\S]*?)\\n\`\`\``, 'g');
  return [...doc.matchAll(pattern)].map((m) => m[1]!);
}

/**
 * The members of every abstract type of a schema, sorted. Federation's own types (`_Entity`)
 * are left out: only gateways select them, and schema.graphql does not hold them.
 */
function possibleTypes(of: GraphQLSchema): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const type of Object.values(of.getTypeMap())) {
    if (!isAbstractType(type) || type.name.startsWith('_')) continue;
    result[type.name] = of
      .getPossibleTypes(type)
      .map((t) => t.name)
      .sort();
  }
  return result;
}

const sortedEntries = (value: Record<string, string[]>) =>
  Object.entries(value)
    .map(([name, members]) => [name, [...members].sort()] as const)
    .sort(([a], [b]) => a.localeCompare(b));

describe('docs/API.md', () => {
  it('gives the possibleTypes of every abstract type (but _Entity), as graphql-js computes them', () => {
    const blocks = markedBlocks('possible-types', 'json');
    expect(blocks).toHaveLength(1);
    const documented = JSON.parse(blocks[0]!) as Record<string, string[]>;
    const computed = possibleTypes(schema);
    expect(Object.keys(computed).length).toBeGreaterThanOrEqual(4);
    expect(sortedEntries(documented)).toEqual(sortedEntries(computed));
    // A client generating from schema.graphql (as graphql-codegen loads it) gets the same object.
    const printed = buildSchema(readFileSync(`${root}schema.graphql`, 'utf8'), { assumeValidSDL: true });
    expect(sortedEntries(possibleTypes(printed))).toEqual(sortedEntries(computed));
  });

  it('lists every top-level code with the status src/http/errors.ts gives it, and no other', () => {
    const inCode = Object.fromEntries(CONTRACT_STATUS);
    expect(Object.keys(inCode).length).toBeGreaterThanOrEqual(10);

    // The rows after <!-- status-table -->, up to the first line that is not a table row.
    const start = doc.indexOf('<!-- status-table -->');
    expect(start).toBeGreaterThan(-1);
    const lines = doc.slice(start).split('\n').slice(1);
    const rows = lines.slice(
      0,
      lines.findIndex((line) => !line.startsWith('|')),
    );
    const inDoc: Record<string, number> = {};
    for (const row of rows) {
      const match = /^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/.exec(row);
      if (match) inDoc[match[1]!] = Number(match[2]);
    }
    expect(inDoc).toEqual(inCode);
  });

  it('has GraphQL examples that parse and validate against the schema', () => {
    const marked = markedBlocks('validate', 'graphql');
    // Operations embedded in the TypeScript examples, as /* GraphQL */ `...` template literals.
    const embedded = [...doc.matchAll(/```ts\n([\s\S]*?)\n```/g)].flatMap((block) =>
      [...block[1]!.matchAll(/\/\* GraphQL \*\/ `([^`]*)`/g)].map((m) => m[1]!),
    );
    expect(marked.length).toBeGreaterThanOrEqual(8);
    expect(embedded.length).toBeGreaterThanOrEqual(3);
    for (const source of [...marked, ...embedded]) {
      const document = parse(source);
      expect(
        validate(schema, document).map((e) => e.message),
        source,
      ).toEqual([]);
    }
  });

  it('documents every REST route, in docs/API.md and in the README with a curl example', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    expect(ROUTES.length).toBe(5);
    for (const route of ROUTES) {
      expect(doc).toContain(`\`${route.method} ${route.path}\``);
      const example = route.path.replace('{session}', 'chat_1234');
      const curls = readme
        .split('\ncurl ')
        .slice(1)
        .filter((c) => c.includes(`http://127.0.0.1:4000${example} `) || c.includes(`http://127.0.0.1:4000${example}\n`));
      const method = (c: string) => /-X (\w+)/.exec(c)?.[1] ?? 'GET';
      expect(
        curls.some((c) => method(c) === route.method),
        `${route.method} ${route.path}`,
      ).toBe(true);
    }
  });

  it('holds the settings and database-condition tables exactly as npm run docs:config writes them', () => {
    const sections = generatedSections();
    expect(Object.keys(sections).sort()).toEqual(['README.md', 'docs/API.md']);
    for (const [file, generated] of Object.entries(sections)) {
      const text = readFileSync(`${root}${file}`, 'utf8');
      expect(withSections(file, text, generated), `${file} differs from the code: run npm run docs:config`).toBe(text);
    }
  });

  it('lists exactly the variables of the config schema, and every database condition, in the tables', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const tableOf = (text: string, name: string) =>
      text.slice(text.indexOf(`<!-- generated:${name} `), text.indexOf(`<!-- /generated:${name} -->`));
    const variables = (table: string) => [...table.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    const names = Object.keys(SETTINGS_SCHEMA.shape);
    expect(names).toEqual(
      expect.arrayContaining([
        'DATABASE_POOL_SIZE',
        'DATABASE_TIMEOUT_MS',
        'DATABASE_CONNECT_TIMEOUT_MS',
        'DATABASE_IDLE_TIMEOUT_SECONDS',
        'TRUST_PROXY',
      ]),
    );
    expect(variables(tableOf(readme, 'settings'))).toEqual(names);
    expect(variables(tableOf(doc, 'settings'))).toEqual(names);
    const conditions = [...tableOf(doc, 'database-conditions').matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
    expect(conditions).toEqual(Object.keys(CONDITIONS));
  });

  it('refuses to write into a file that lost a marker, rather than skipping it', () => {
    expect(() => withSections('README.md', 'no markers here', { settings: '| x |' })).toThrow(/has no <!-- generated:settings/);
  });

  it("carries an MIT LICENSE and says so in package.json; the CHANGELOG starts with package.json's version", () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string; license: string };
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(`${root}LICENSE`, 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} /);
    const changelog = readFileSync(`${root}CHANGELOG.md`, 'utf8');
    expect(/^## (\S+)/m.exec(changelog)?.[1]).toBe(pkg.version);
  });

  it("says in the README's limits table both statuses of a request error: 400, and 200 for application/json", () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const rows = readme.split('\n').filter((line) => line.startsWith('|') && /GRAPHQL_(VALIDATION|PARSE)_FAILED/.test(line));
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) expect(row, row).toMatch(/400.*200 .*application\/json/);
  });

  it('has CI run the suite on the current LTS line of Node.js too, one the README names, and a guard against running it on another', () => {
    const ci = readFileSync(`${root}.ci/run`, 'utf8');
    const lts = /^NODE_LTS=(\d+)\.\d+\.\d+$/m.exec(ci)?.[1];
    expect(lts, 'NODE_LTS in .ci/run').toBeDefined();
    expect(Number(lts)).toBeGreaterThanOrEqual(24);
    expect(ci).toMatch(/^PATH="\$node_bin:\$PATH" REQUIRE_NODE_MAJOR="\$\{NODE_LTS%%\.\*\}" npm test$/m);
    const readme = readFileSync(`${root}README.md`, 'utf8');
    expect(readme).toContain(`CI (\`.ci/run\`) runs the whole suite on Node.js\n20 and on ${lts}`);
    expect(readme).toMatch(/EBADENGINE/);
    // The guard every test file loads: it refuses a Node.js other than the one asked for.
    const guard = (major: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'test/setup/node-version.ts'], {
        cwd: root,
        env: { ...process.env, REQUIRE_NODE_MAJOR: major },
        encoding: 'utf8',
      });
    const other = guard('19');
    expect(other.status).not.toBe(0);
    expect(other.stderr).toContain(`REQUIRE_NODE_MAJOR=19, but the suite runs on Node.js ${process.versions.node}`);
    expect(guard(process.versions.node.split('.')[0]!).status).toBe(0);
  });
});
