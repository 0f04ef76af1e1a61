import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/graphql/schema.js';
import { drivers, freshDatabase } from './support.js';

/**
 * README.md, run as a reader runs it: its shell and TypeScript examples in order, against a real
 * `npm start` on a fresh database, in one shell session (what a block exports, the next one has).
 * Each example must succeed (exit 0; every curl answered 2xx) and answer what its output comments
 * show. Two things are changed, as a reader changes them: the key (`tr_dev_...`, the placeholder)
 * becomes the one the first start printed, and port 4000 becomes the one the test's server took.
 *
 * Blocks are annotated with `<!-- readme-test: ACTION (why) -->` right above them:
 * - `skip`: not run (installing, deploying, the suite itself), and counted;
 * - `stream`: runs in the background while the following blocks do; its output comments are
 *   checked once the next block that is no stream has run, then it is stopped;
 * - `server-stopped-on-pglite`: the embedded database serves one process, so the server is stopped
 *   first, as the README says to (a real PostgreSQL server keeps it running);
 * - `first-start output`: the server's first-start lines, `…` standing for what differs.
 * An unknown action fails the test, so a typo cannot skip a block.
 *
 * Output comments: in a shell block, `# {json}` (or `# data: {json}`) after a command; in a
 * TypeScript block, `// {json}`. Each must match an object the block printed, in order: the
 * fields shown (a subset), strings with `…` matching what stands around it.
 */
const root = new URL('..', import.meta.url).pathname;
const README = readFileSync(join(root, 'README.md'), 'utf8');
const ACTIONS = ['skip', 'stream', 'server-stopped-on-pglite', 'first-start output'] as const;
type Action = (typeof ACTIONS)[number];

interface Block {
  lang: string;
  body: string;
  /** 1-based line of the opening fence, for messages. */
  line: number;
  action?: Action;
  reason?: string;
  markers: string[];
}

function readmeBlocks(): Block[] {
  const lines = README.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    // A fence may be indented (a block inside a list item); its closing fence is indented alike.
    const fence = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const indent = fence[1]!;
    const end = lines.indexOf(`${indent}\`\`\``, i + 1);
    if (end === -1) throw new Error(`README.md:${i + 1}: a fence that is never closed`);
    const comments: string[] = [];
    for (let j = i - 1; j >= 0 && /^<!--.*-->$/.test(lines[j]!.trim()); j--) comments.unshift(lines[j]!.trim());
    const body = lines.slice(i + 1, end).map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line));
    const block: Block = { lang: fence[2]!, body: body.join('\n'), line: i + 1, markers: comments };
    for (const comment of comments) {
      const annotation = /^<!-- readme-test: ([a-z-]+(?: output)?)(?: \((.+)\))? -->$/.exec(comment);
      if (!annotation) continue;
      if (!ACTIONS.includes(annotation[1] as Action)) throw new Error(`README.md:${i + 1}: unknown readme-test action "${annotation[1]}"`);
      block.action = annotation[1] as Action;
      block.reason = annotation[2];
    }
    blocks.push(block);
    i = end;
  }
  return blocks;
}

/** Every JSON object printed, in order (one inside another is part of it, not another). */
export function printedObjects(text: string): unknown[] {
  const found: unknown[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '{') continue;
    let depth = 0;
    let inString = false;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (inString) {
        if (c === '\\') j++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        try {
          found.push(JSON.parse(text.slice(i, j + 1)));
          i = j;
        } catch {
          // not JSON: go on from the next brace
        }
        break;
      }
    }
  }
  return found;
}

/** The output comments of a block: the JSON each shows. */
function expectedOutputs(block: Block): unknown[] {
  const pattern = block.lang === 'ts' ? /^\s*\/\/\s*(\{.*)$/ : /^\s*#\s*(?:data:\s*)?(\{.*)$/;
  return block.body
    .split('\n')
    .map((line) => pattern.exec(line)?.[1])
    .filter((json): json is string => json !== undefined)
    .map((json) => {
      const [first] = printedObjects(json);
      if (first === undefined) throw new Error(`README.md:${block.line}: an output comment that is no JSON: ${json}`);
      return first;
    });
}

/** Whether `actual` is what `shown` shows: its fields (a subset), `…` in a string standing for anything. */
export function shows(shown: unknown, actual: unknown): boolean {
  if (typeof shown === 'string' && shown.includes('…')) {
    if (typeof actual !== 'string') return false;
    const parts = shown.split('…');
    let at = 0;
    for (const [k, part] of parts.entries()) {
      const found = k === parts.length - 1 ? actual.lastIndexOf(part) : actual.indexOf(part, at);
      if (found < at || (k === 0 && found !== 0) || (k === parts.length - 1 && found + part.length !== actual.length)) return false;
      at = found + part.length;
    }
    return true;
  }
  if (Array.isArray(shown)) return Array.isArray(actual) && actual.length === shown.length && shown.every((s, k) => shows(s, actual[k]));
  if (shown && typeof shown === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(shown).every(([key, value]) => key in actual && shows(value, (actual as Record<string, unknown>)[key]));
  }
  return Object.is(shown, actual);
}

/** The shown outputs not found, in order, among the printed objects. */
function missing(shown: unknown[], printed: string): unknown[] {
  const objects = printedObjects(printed);
  let cursor = 0;
  const absent: unknown[] = [];
  for (const expected of shown) {
    const at = objects.findIndex((o, k) => k >= cursor && shows(expected, o));
    if (at === -1) absent.push(expected);
    else cursor = at + 1;
  }
  return absent;
}

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

function launch(command: string, args: string[], env: NodeJS.ProcessEnv): Run {
  // Its own process group, so a stream (bash and its curl) is stopped as a whole.
  const child = spawn(command, args, { cwd: root, env, detached: true });
  const run: Run = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.on('close', resolve)) };
  child.stdout!.on('data', (d) => (run.stdout += d));
  child.stderr!.on('data', (d) => (run.stderr += d));
  return run;
}

async function stop(run: Run): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) {
    try {
      process.kill(-run.child.pid!, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  await run.exited;
}

async function until(what: string, probe: () => boolean, timeoutMs: number, run?: Run): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${run ? `\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// A reader's shell: stops at the first failing command, knows no variable it was not given, and
// (the test's one addition) treats an HTTP error answer as a failing curl.
const SHELL_PRELUDE = `set -euo pipefail
curl() { command curl --fail-with-body "$@"; }
`;

describe.each(drivers)('README.md, run in order on %s', (driver) => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-readme-'));
  const scripts = join(root, '.data', `readme-${randomBytes(4).toString('hex')}`);
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let shellEnv: NodeJS.ProcessEnv;
  let server: Run | null = null;
  let port = '';
  let key = '';
  let firstStart = '';
  const streams: { block: Block; run: Run }[] = [];

  async function startServer(): Promise<void> {
    // Its log as a person starting it on a terminal sees it (lines for people, not JSON).
    server = launch('npm', ['start'], { ...shellEnv, PORT: '0', LOG_FORMAT: 'pretty' });
    const current = server;
    await until('the listening line', () => /listening on http:\/\/127\.0\.0\.1:\d+\/graphql/.test(current.stdout), 60_000, current);
    port = /listening on http:\/\/127\.0\.0\.1:(\d+)\/graphql/.exec(current.stdout)![1]!;
    // Ready once migrated: the first start prints its key then, a later one the GraphiQL line.
    await until(
      'the first-start lines',
      () => /^\s+tr_dev_\S+$/m.test(current.stdout) || /GraphiQL: /.test(current.stdout),
      60_000,
      current,
    );
  }

  beforeAll(async () => {
    fresh = await freshDatabase(driver);
    mkdirSync(scripts, { recursive: true });
    const { DATABASE_URL: _ignored, ...inherited } = process.env;
    shellEnv = { ...inherited, ...(fresh.url ? { DATABASE_URL: fresh.url } : { PGLITE_DIR: join(dir, 'pglite') }) };
    await startServer();
    key = /^\s+(tr_dev_[\w-]+)$/m.exec(server!.stdout)![1]!;
    firstStart = server!.stdout;
  }, 120_000);

  afterAll(async () => {
    for (const { run } of streams) await stop(run);
    if (server) await stop(server);
    await fresh?.drop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(scripts, { recursive: true, force: true });
  });

  /** As a reader types it: their key for the placeholder, and the test server's port. */
  const asTyped = (body: string) => body.replaceAll('tr_dev_...', key).replaceAll('127.0.0.1:4000', `127.0.0.1:${port}`);

  function launchBlock(block: Block, index: number): Run {
    if (block.lang === 'sh') {
      // What the block exports is written out when it ends, for the blocks after it.
      const keep = `trap 'env -0 > "${join(scripts, `env-${index}`)}"' EXIT\n`;
      return launch('bash', ['-c', SHELL_PRELUDE + (block.action === 'stream' ? '' : keep) + asTyped(block.body)], shellEnv);
    }
    const file = join(scripts, `block-${index}.ts`);
    writeFileSync(file, asTyped(block.body));
    return launch(process.execPath, ['--import', 'tsx', file], shellEnv);
  }

  const where = (block: Block) => `README.md:${block.line}`;
  const outputOf = (run: Run) => `\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;

  /** The streams started so far must have printed what they show; then they stop. */
  async function settleStreams(): Promise<void> {
    for (const { block, run } of streams.splice(0)) {
      const shown = expectedOutputs(block);
      await until(`${where(block)} to print what it shows`, () => missing(shown, run.stdout).length === 0, 15_000).catch(() => {});
      await stop(run);
      expect(missing(shown, run.stdout), `${where(block)} did not print what it shows${outputOf(run)}`).toEqual([]);
    }
  }

  it('runs every shell and TypeScript example, answering what each shows; skips only those marked, with a reason', async () => {
    const blocks = readmeBlocks();
    const ran: Block[] = [];
    const skipped: Block[] = [];
    for (const [index, block] of blocks.entries()) {
      if (block.action === 'first-start output') {
        if (driver === 'pglite') expectFirstStart(block, firstStart, port, join(dir, 'pglite'));
        continue;
      }
      if (block.markers.includes('<!-- first-mutation -->')) {
        await runFirstMutation(block, blocks[index + 1]!, port, key);
        ran.push(block);
        continue;
      }
      if (block.lang !== 'sh' && block.lang !== 'ts') continue;
      if (block.action === 'skip') {
        expect(block.reason, `${where(block)} is skipped without a reason`).toBeTruthy();
        skipped.push(block);
        continue;
      }
      if (block.action === 'server-stopped-on-pglite' && driver === 'pglite' && server) {
        await stop(server);
        server = null;
      } else if (block.action !== 'server-stopped-on-pglite' && !server) {
        await startServer();
      }
      const run = launchBlock(block, index);
      ran.push(block);
      if (block.action === 'stream') {
        // Subscribed once it prints (SSE's first comment, graphql-ws's "connected"), and a moment
        // for the server to record the watch.
        await until(`${where(block)} to start streaming`, () => run.stdout.length > 0, 30_000, run);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        streams.push({ block, run });
        continue;
      }
      const timer = setTimeout(() => void stop(run), 90_000);
      const code = await run.exited;
      clearTimeout(timer);
      expect(code, `${where(block)} failed${outputOf(run)}`).toBe(0);
      expect(missing(expectedOutputs(block), run.stdout), `${where(block)} did not print what it shows${outputOf(run)}`).toEqual([]);
      if (block.lang === 'sh') shellEnv = exportedBy(block, index, shellEnv);
      await settleStreams();
    }
    await settleStreams();
    // Installing, the suite itself, deploying: what cannot run here, said so in the README.
    expect(skipped.map((b) => b.line)).toHaveLength(3);
    expect(ran.length).toBeGreaterThanOrEqual(9);
    expect(ran.filter((b) => b.action === 'stream')).toHaveLength(2);
  }, 300_000);

  /** What a block exported, for the blocks after it: the shell session goes on. */
  function exportedBy(block: Block, index: number, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    const names = [...block.body.matchAll(/^export ([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    if (names.length === 0) return env;
    const pairs = readFileSync(join(scripts, `env-${index}`), 'utf8')
      .split('\0')
      .filter(Boolean);
    const values = Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    return { ...env, ...Object.fromEntries(names.map((name) => [name, values[name]])) };
  }

  it('has GraphQL operations that validate against the schema', () => {
    const operations = readmeBlocks().filter((b) => b.lang === 'graphql' && !/^\s*(type|extend) /m.test(b.body));
    expect(operations.length).toBeGreaterThanOrEqual(2);
    for (const block of operations)
      expect(
        validate(schema, parse(block.body)).map((e) => e.message),
        where(block),
      ).toEqual([]);
  });
});

/** The README's first mutation, sent as GraphiQL sends it (▶), with the variables block after it. */
async function runFirstMutation(block: Block, variablesBlock: Block, port: string, key: string): Promise<void> {
  expect(variablesBlock.lang).toBe('json');
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: block.body, variables: JSON.parse(variablesBlock.body) }),
  });
  const body = (await response.json()) as any;
  expect(body.errors).toBeUndefined();
  expect(body.data.createSession).toMatchObject({ __typename: 'CreateSessionSuccess', session: { version: 1 } });
  expect(body.data.updateSession).toMatchObject({ __typename: 'UpdateSessionSuccess', session: { version: 2, tags: ['chat:1234'] } });
}

/** The README's first-start lines against the real ones; `…` stands for what differs. */
function expectFirstStart(block: Block, output: string, port: string, pgliteDir: string): void {
  const actual = output.split('\n');
  const start = actual.findIndex((line) => line.includes(' INFO: sessions-gateway '));
  const shown = block.body.replaceAll('127.0.0.1:4000', `127.0.0.1:${port}`).replace('at .data/pglite', `at ${pgliteDir}`).split('\n');
  for (const [k, line] of shown.entries()) {
    const pattern = new RegExp(
      `^${line
        .split('…')
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.+')}$`,
    );
    expect(actual[start + k] ?? '', `README.md:${block.line + 1 + k}`).toMatch(pattern);
  }
}
