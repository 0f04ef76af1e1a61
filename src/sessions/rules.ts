import { z } from '../zod.js';
import { type InputIssue, InvalidInputError, PayloadTooLargeError } from './errors.js';
import { SESSION_ID_PREFIX } from './ids.js';
import {
  IDLE_TIMEOUT_SECONDS,
  LATEST_TIME_MS,
  MACHINES,
  MAX_ATTEMPTS,
  MAX_CLOSE_REASON_LENGTH,
  MAX_EXACT_NUMBER,
  MAX_EXTERNAL_ID_LENGTH,
  MAX_INPUT_BYTES,
  MAX_JSON_DEPTH,
  MAX_QUEUE_LENGTH,
  MAX_TAG_LENGTH,
  MAX_TAGS,
  MAX_TASK_IDENTIFIER_LENGTH,
  MAX_TYPE_LENGTH,
} from './limits.js';

export type JsonObject = Record<string, unknown>;

/**
 * A string of at most `max` characters, counted as JavaScript (and Trigger.dev's zod 3 schemas)
 * count them: UTF-16 code units. zod 4's own max() counts code points instead.
 */
const text = (max: number, name: string) =>
  z
    .string()
    .refine((s) => s.length <= max, `${name} is at most ${max} characters`)
    .meta({ maxLength: max, description: `At most ${max} characters (UTF-16 code units).` });

// The count is a refinement run even when a tag fails, so both problems are reported.
const tags = z
  .array(text(MAX_TAG_LENGTH, 'a tag'), {
    error: (issue) => (issue.input === null ? 'tags may not be null: omit the field to keep the tags' : undefined),
  })
  .refine((list) => list.length <= MAX_TAGS, {
    message: `at most ${MAX_TAGS} tags`,
    when: (payload) => Array.isArray(payload.value),
  })
  .meta({ maxItems: MAX_TAGS, description: `At most ${MAX_TAGS} tags; they replace the tags the session had.` });

const externalId = z
  .string()
  .trim()
  .min(1, 'externalId may not be empty')
  .refine((v) => v.length <= MAX_EXTERNAL_ID_LENGTH, `externalId is at most ${MAX_EXTERNAL_ID_LENGTH} characters`)
  .refine((v) => !v.startsWith(SESSION_ID_PREFIX), `externalId may not start with "${SESSION_ID_PREFIX}"`)
  .meta({
    maxLength: MAX_EXTERNAL_ID_LENGTH,
    pattern: `^(?!${SESSION_ID_PREFIX})`,
    description: `Your own stable id: at most ${MAX_EXTERNAL_ID_LENGTH} characters, not starting with ${SESSION_ID_PREFIX}; read-only after create.`,
  });

/**
 * Levels of nesting of a JSON value: a scalar 0, `{}` or `[]` 1, `{"a": {}}` 2. Walked without
 * recursion, and no further than `limit + 1` levels.
 */
export function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object' || item instanceof Date) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > limit) return deepest;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}

const jsonObject = z
  .custom<JsonObject>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'must be a JSON object')
  .refine((v) => jsonDepth(v, MAX_JSON_DEPTH) <= MAX_JSON_DEPTH, `nested deeper than ${MAX_JSON_DEPTH} levels`);

// A version is a 32-bit integer column (GraphQL's Int is 32-bit too).
const expectedVersion = z
  .number()
  .int()
  .min(1, 'expectedVersion is at least 1')
  .max(2_147_483_647, 'expectedVersion is at most 2147483647')
  .nullable()
  .optional();

const updateSchema = z.object({
  tags: tags.optional(),
  metadata: jsonObject.nullable().optional(),
  externalId: externalId.nullable().optional(),
  expectedVersion,
});

const attempts = `${MAX_ATTEMPTS.min} to ${MAX_ATTEMPTS.max}`;
const idle = `${IDLE_TIMEOUT_SECONDS.min} to ${IDLE_TIMEOUT_SECONDS.max}`;

/**
 * A session's trigger options, declared once: the input rules, the GraphQL input and output
 * types, the REST wire schema and the stored type all come from this table. `kind` is the value's
 * JSON kind; every option but basePayload may be omitted (or null, which is the same).
 */
export const TRIGGER_CONFIG = {
  basePayload: { kind: 'object', rule: jsonObject, description: 'The payload merged into each run.' },
  machine: {
    kind: 'string',
    rule: z.enum(MACHINES, `machine is one of ${MACHINES.join(', ')}`),
    description: `Machine preset of the runs: ${MACHINES.join(', ')}.`,
  },
  queue: {
    kind: 'string',
    rule: text(MAX_QUEUE_LENGTH, 'queue'),
    description: `Queue the runs go to, at most ${MAX_QUEUE_LENGTH} characters.`,
  },
  tags: {
    kind: 'strings',
    rule: tags,
    description: `Tags given to each run (not the session's own): at most ${MAX_TAGS}, each at most ${MAX_TAG_LENGTH} characters.`,
  },
  maxAttempts: {
    kind: 'int',
    rule: z.number().int().min(MAX_ATTEMPTS.min, `maxAttempts is ${attempts}`).max(MAX_ATTEMPTS.max, `maxAttempts is ${attempts}`),
    description: `Attempts per run, ${attempts}.`,
  },
  maxDuration: {
    kind: 'int',
    rule: z.number().int().min(1, 'maxDuration is at least 1'),
    description: 'Longest a run may take, in seconds, at least 1.',
  },
  lockToVersion: { kind: 'string', rule: z.string(), description: 'Task version the runs are locked to.' },
  region: { kind: 'string', rule: z.string(), description: 'Region the runs execute in.' },
  idleTimeoutInSeconds: {
    kind: 'int',
    rule: z
      .number()
      .int()
      .min(IDLE_TIMEOUT_SECONDS.min, `idleTimeoutInSeconds is ${idle}`)
      .max(IDLE_TIMEOUT_SECONDS.max, `idleTimeoutInSeconds is ${idle}`),
    description: `Seconds a run may wait idle for the next message, ${idle}.`,
  },
  ttl: { kind: 'string', rule: z.string(), description: 'How long a run may wait to start, like "10m".' },
} as const;

type Kinds = { object: JsonObject; string: string; strings: string[]; int: number };
type Options = Omit<typeof TRIGGER_CONFIG, 'basePayload'>;
/** A trigger config as stored: basePayload, and the options that were given. */
export type TriggerConfig = { basePayload: JsonObject } & { [K in keyof Options]?: Kinds[Options[K]['kind']] };

const triggerConfigSchema = z.object(
  Object.fromEntries(
    Object.entries(TRIGGER_CONFIG).map(([name, field]) => [name, name === 'basePayload' ? field.rule : field.rule.nullish()]),
  ) as { basePayload: typeof jsonObject } & { [K in keyof Options]: z.ZodOptional<z.ZodNullable<Options[K]['rule']>> },
);

const createSchema = z.object({
  type: text(MAX_TYPE_LENGTH, 'type').refine((s) => s.length > 0, 'type may not be empty'),
  taskIdentifier: text(MAX_TASK_IDENTIFIER_LENGTH, 'taskIdentifier').refine((s) => s.length > 0, 'taskIdentifier may not be empty'),
  triggerConfig: triggerConfigSchema,
  externalId: externalId.nullish(),
  tags: tags.nullish(),
  metadata: jsonObject.nullish(),
  expiresAt: z
    .date()
    .refine((d) => d.getTime() > Date.now(), 'expiresAt must be in the future')
    .refine((d) => d.getTime() <= LATEST_TIME_MS, 'expiresAt must be before the year 10000')
    .nullish(),
});

export type UpdateSessionInput = z.infer<typeof updateSchema>;
export type CreateSessionInput = z.infer<typeof createSchema>;
export type TriggerConfigInput = z.infer<typeof triggerConfigSchema>;

/**
 * The input as JSON: what the size rule counts (UTF-8 bytes, as a REST body of it would have).
 * Input too deep to even serialise (thousands of levels) is a shape problem, not a crash.
 */
function inputJson(input: unknown): string {
  try {
    return JSON.stringify(input) ?? '';
  } catch (error) {
    if (error instanceof RangeError) {
      throw new InvalidInputError([{ path: ['input'], message: `nested deeper than ${MAX_JSON_DEPTH} levels` }]);
    }
    throw error;
  }
}

export function assertInputSize(input: unknown): string {
  const json = inputJson(input);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_INPUT_BYTES) throw new PayloadTooLargeError(bytes);
  return json;
}

/** Whether PostgreSQL can hold the string at all (see below). */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

/**
 * PostgreSQL stores no NUL character and no lone surrogate, in text or in jsonb, and a number
 * beyond ±(2^53 − 1), or one that is not finite, cannot be read back as sent (JSON has no
 * Infinity; 9007199254740993 comes back ...992). Any such value (or object key, however deep) is
 * refused as input, never stored changed. Walked without recursion; each issue names its path.
 */
function unstorable(value: unknown, path: string[], issues: InputIssue[]): void {
  // Each entry: a value, its path, and whether its key (the path's last part) is checked too.
  const stack: [unknown, string[], boolean][] = [[value, path, false]];
  const check = (text: string, at: string[]) => {
    if (text.includes('\u0000')) issues.push({ path: at, message: 'may not contain the NUL character (U+0000)' });
    else if (!text.isWellFormed()) issues.push({ path: at, message: 'may not contain unpaired UTF-16 surrogates' });
  };
  while (stack.length > 0) {
    const [item, at, isKey] = stack.pop()!;
    if (isKey) check(at.at(-1)!, at);
    if (typeof item === 'string') check(item, at);
    else if (typeof item === 'number' && !(Math.abs(item) <= MAX_EXACT_NUMBER)) {
      issues.push({
        path: at,
        message: `must be a finite number from -${MAX_EXACT_NUMBER} to ${MAX_EXACT_NUMBER}: others are not stored exactly`,
      });
    } else if (item !== null && typeof item === 'object' && !(item instanceof Date)) {
      const entries = Object.entries(item);
      // Pushed in reverse, so issues come out in document order.
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        stack.push([child, [...at, key], !Array.isArray(item)]);
      }
    }
  }
}

// JSON.stringify writes a NUL as \u0000, a lone surrogate as \ud800…\udfff, a number that is not
// finite as null, and a large one with 16 digits or an exponent: a text with none of these holds
// nothing the walk would refuse, and needs no walk.
const MAYBE_UNSTORABLE = /\\u0000|\\ud[89a-f]|null|\d{16}|\de/i;

function parse<T>(schema: z.ZodType<T>, input: unknown, json: string): T {
  const issues: InputIssue[] = [];
  const result = schema.safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      issues.push({ path: ['input', ...issue.path.map(String)], message: issue.message });
    }
  }
  if (MAYBE_UNSTORABLE.test(json)) unstorable(input, ['input'], issues);
  if (!result.success || issues.length > 0) throw new InvalidInputError(issues);
  return result.data;
}

/** Size, then shape: the checks of an update that need no database. */
export function parseUpdateInput(input: unknown): UpdateSessionInput {
  return parse(updateSchema, input, assertInputSize(input));
}

export function parseCreateInput(input: unknown): CreateSessionInput {
  return parse(createSchema, input, assertInputSize(input));
}

const closeSchema = z.object({ reason: text(MAX_CLOSE_REASON_LENGTH, 'reason').nullish(), expectedVersion });

/** A close's arguments: the reason (at most 256 characters), and an optional expectedVersion. */
export function parseCloseArgs(args: { reason?: unknown; expectedVersion?: unknown }): {
  reason: string | null;
  expectedVersion: number | null;
} {
  const issues: InputIssue[] = [];
  const result = closeSchema.safeParse(args);
  if (!result.success) issues.push(...result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })));
  unstorable(args.reason, ['reason'], issues);
  if (!result.success || issues.length > 0) throw new InvalidInputError(issues);
  return { reason: result.data.reason ?? null, expectedVersion: result.data.expectedVersion ?? null };
}

/** The input schemas, for documents generated from them (the REST API's OpenAPI). */
export const INPUT_SCHEMAS = { update: updateSchema, create: createSchema, close: closeSchema, jsonObject };
