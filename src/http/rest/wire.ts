import { TRIGGER_CONFIG, type TriggerConfig } from '../../sessions/rules.js';
import { type Session, STATUS_NAMES, sessionStatus } from '../../sessions/session.js';
import { z } from '../../zod.js';

/** Trigger.dev's SessionItem and its companions: the JSON the REST routes answer with. */

const isoDate = z.string().meta({ format: 'date-time' });

const KIND = { object: z.record(z.string(), z.unknown()), string: z.string(), strings: z.array(z.string()), int: z.number().int() };
const { basePayload, ...options } = TRIGGER_CONFIG;

/** The stored trigger config as the wire shows it: from the core's TRIGGER_CONFIG table. */
const TriggerConfigItem = z
  .object({
    basePayload: KIND.object.meta({ description: basePayload.description }),
    ...Object.fromEntries(
      Object.entries(options).map(([name, { kind, description }]) => [name, KIND[kind].optional().meta({ description })]),
    ),
  })
  .meta({ description: 'Trigger options applied to every run the session schedules.' });

export const SessionItem = z
  .object({
    id: z.string().meta({ description: 'Friendly ID, always starting with session_.' }),
    externalId: z.string().nullable().meta({ description: 'Your own stable id for the session.' }),
    type: z.string(),
    taskIdentifier: z.string(),
    triggerConfig: TriggerConfigItem,
    currentRunId: z.string().nullable(),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    closedAt: isoDate.nullable(),
    closedReason: z.string().nullable(),
    expiresAt: isoDate.nullable(),
    createdAt: isoDate,
    updatedAt: isoDate,
    version: z.number().int().meta({ description: 'Starts at 1, grows by 1 with every write; the ETag.' }),
    status: z.enum(STATUS_NAMES),
  })
  .meta({ description: 'A session row.' });

export const CreatedSessionItem = SessionItem.extend({
  isCached: z.boolean().meta({ description: 'True when an open session with this externalId already existed.' }),
  publicAccessToken: z.string().meta({ description: 'A JWT that may read this session.' }),
});

export const SessionList = z.object({
  data: z.array(SessionItem),
  pagination: z.object({
    next: z.string().optional().meta({ description: 'Pass as page[after] for the next (older) page; absent on the last.' }),
    previous: z.string().optional().meta({ description: 'Pass as page[before] for the previous (newer) page.' }),
  }),
});

export const ErrorBody = z.object({ error: z.string() });

export function sessionItem(s: Session): z.infer<typeof SessionItem> {
  return {
    id: s.id,
    externalId: s.externalId,
    type: s.type,
    taskIdentifier: s.taskIdentifier,
    triggerConfig: s.triggerConfig as TriggerConfig,
    currentRunId: s.currentRunId,
    tags: s.tags,
    metadata: s.metadata,
    closedAt: s.closedAt?.toISOString() ?? null,
    closedReason: s.closedReason,
    expiresAt: s.expiresAt?.toISOString() ?? null,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    version: s.version,
    status: sessionStatus(s),
  };
}

/** A session's ETag: its version. */
export const etag = (s: Session) => `"${s.version}"`;

/** A refusal of REST's own (not the core's), with the status it answers. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
