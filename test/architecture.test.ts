import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The floors of docs/ARCHITECTURE.md, held by the import graph of src/ (type imports included):
 * no cycle, and no room imports from a floor above its own.
 */
const src = new URL('../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Every file of src/ and the files of src/ it imports (by relative path). */
const graph = new Map<string, string[]>(
  files(src).map((file) => {
    const text = readFileSync(file, 'utf8');
    const imports = [...text.matchAll(/^(?:import|export)[^'";]*?from\s+'(\.[^']+)'|^import\s+'(\.[^']+)'/gm)]
      .map((m) => m[1] ?? m[2]!)
      .map((spec) => relative(src, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    return [relative(src, file), imports];
  }),
);

/** The floor of a file: its folder, or the file itself at the top of src/. */
const room = (file: string) => (file.includes('/') ? file.split('/')[0]! : file.replace(/\.ts$/, ''));

/** What each floor may import, besides itself and the utilities every floor may use. */
const MAY_IMPORT: Record<string, string[]> = {
  db: [],
  sessions: ['db'],
  auth: ['sessions', 'db'],
  graphql: ['sessions', 'auth'],
  http: ['graphql', 'sessions', 'auth', 'db', 'config'],
  app: ['http', 'graphql', 'sessions', 'auth', 'db', 'config'],
  main: ['app', 'http', 'auth', 'db', 'config'],
  cli: ['auth', 'db', 'config'],
  config: [],
  log: [],
  zod: [],
  version: [],
  telemetry: [],
};
const UTILITIES = new Set(['log', 'zod', 'version', 'telemetry']);

describe('the import graph of src/', () => {
  it('reads every file', () => {
    expect(graph.size).toBeGreaterThan(30);
    expect(graph.get('sessions/service.ts')).toContain('sessions/store.ts');
  });

  it('has no cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') return void cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('has no import from a floor above: the core imports nothing from http, graphql or auth', () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const from = room(file);
      expect(MAY_IMPORT, `${file} is in no floor of MAY_IMPORT`).toHaveProperty(from);
      for (const target of imports) {
        const to = room(target);
        if (to !== from && !UTILITIES.has(to) && !MAY_IMPORT[from]!.includes(to)) wrong.push(`${file} → ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
