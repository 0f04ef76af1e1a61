import { LATEST_TIME_MS, PAGE_SIZE } from '../../sessions/limits.js';
import type { PageArgs } from '../../sessions/service.js';
import { STATUS_NAMES } from '../../sessions/session.js';
import { z } from '../../zod.js';
import { Refusal } from './wire.js';

/**
 * The list route's query, Trigger.dev's page[…] and filter[…] parameters, as a zod schema over
 * every parameter's values. A list is comma-joined in one parameter (as the SDK sends it) or the
 * parameter repeated, an empty parameter an empty list (it matches nothing, as GraphQL's `[]`);
 * each value is taken exactly as sent, as GraphQL's filter takes it (a value holding a comma can
 * only be filtered on through GraphQL).
 */

/** The OpenAPI description of a parameter, kept beside its schema. */
type Param = {
  description: string;
  type: 'string' | 'integer';
};

const param = <T extends z.ZodType>(schema: T, meta: Param) => schema.optional().meta(meta);
const one = z.array(z.string()).transform((values) => values.at(-1)!);
const many = z.array(z.string()).transform((given) => given.flatMap((v) => (v === '' ? [] : v.split(','))));
const epochMs = one.pipe(
  z
    .string()
    .regex(/^\d{1,15}$/, 'must be a time in milliseconds since 1970')
    .transform(Number)
    .pipe(z.number().max(LATEST_TIME_MS, 'must be before the year 10000')),
);
const PERIOD_UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3, w: 604_800e3 };
const size = `${PAGE_SIZE.min} to ${PAGE_SIZE.max}`;

const FIELDS = {
  'page[size]': param(
    one
      .transform(Number)
      .pipe(z.number(`must be ${size}`).int(`must be ${size}`).min(PAGE_SIZE.min, `must be ${size}`).max(PAGE_SIZE.max, `must be ${size}`)),
    { description: `Page size, ${size} (default ${PAGE_SIZE.default}).`, type: 'integer' },
  ),
  'page[after]': param(one, { description: 'A pagination.next cursor: the page after it (older).', type: 'string' }),
  'page[before]': param(one, {
    description: 'A pagination.previous cursor: the page before it (newer). Not with page[after].',
    type: 'string',
  }),
  'filter[type]': param(many, { description: 'Any of these types, comma-separated or repeated.', type: 'string' }),
  'filter[tags]': param(many, { description: 'Sessions carrying any of these tags, comma-separated or repeated.', type: 'string' }),
  'filter[taskIdentifier]': param(many, { description: 'Any of these tasks, comma-separated or repeated.', type: 'string' }),
  'filter[externalId]': param(one, { description: 'Exactly this externalId.', type: 'string' }),
  'filter[status]': param(many.pipe(z.array(z.enum(STATUS_NAMES, `must be ${STATUS_NAMES.join(', ')}`))), {
    description: `${STATUS_NAMES.join(', ')}; several comma-separated.`,
    type: 'string',
  }),
  'filter[createdAt][from]': param(epochMs, { description: 'Created at or after this time, in ms since 1970.', type: 'integer' }),
  'filter[createdAt][to]': param(epochMs, { description: 'Created at or before this time, in ms since 1970.', type: 'integer' }),
  'filter[createdAt][period]': param(
    one.pipe(
      z
        .string()
        .regex(/^(\d{1,12}[smhdw])+$/, 'must be like 30m, 12h or 7d')
        .transform((period) =>
          [...period.matchAll(/(\d+)([smhdw])/g)].reduce((ms, [, n, unit]) => ms + Number(n) * PERIOD_UNITS[unit!]!, 0),
        ),
    ),
    { description: 'Created within this period before now: 30m, 12h, 7d, 2w.', type: 'string' },
  ),
};

const LIST_QUERY = z
  .object(FIELDS)
  .refine((q) => !(q['page[after]'] && q['page[before]']), 'Pass page[after] or page[before], not both')
  .transform((q): PageArgs => {
    // from and to include their bound; the core's createdAfter and createdBefore exclude theirs.
    const period = q['filter[createdAt][period]'];
    const starts = [q['filter[createdAt][from]'], period === undefined ? undefined : Math.max(0, Date.now() - period)];
    const from = Math.max(...starts.filter((t): t is number => t !== undefined));
    const to = q['filter[createdAt][to]'];
    const filter = {
      type: q['filter[type]'],
      tags: q['filter[tags]'],
      taskIdentifier: q['filter[taskIdentifier]'],
      externalId: q['filter[externalId]'],
      status: q['filter[status]'],
      createdAfter: Number.isFinite(from) ? new Date(from - 1) : undefined,
      // Nothing is created after the last representable millisecond: `to` at it bounds nothing.
      createdBefore: to !== undefined && to < LATEST_TIME_MS ? new Date(to + 1) : undefined,
    };
    const pageSize = q['page[size]'] ?? PAGE_SIZE.default;
    const before = q['page[before]'] || null;
    return before ? { filter, last: pageSize, before } : { filter, first: pageSize, after: q['page[after]'] || null };
  });

/** The list query's parameters, for the OpenAPI document. */
export const LIST_PARAMETERS = Object.entries(FIELDS).map(([name, schema]) => ({ name, ...(schema.meta() as unknown as Param) }));

/** The core's page arguments from the query; a parameter out of its rules is a 400 naming it. */
export function listArgs(query: URLSearchParams): PageArgs {
  const values = Object.fromEntries([...new Set(query.keys())].map((name) => [name, query.getAll(name)]));
  const parsed = LIST_QUERY.safeParse(values);
  if (parsed.success) return parsed.data;
  throw new Refusal(400, parsed.error.issues.map((i) => (i.path.length ? `${String(i.path[0])}: ${i.message}` : i.message)).join('; '));
}
