/** Largest `JSON.stringify(input)` of a create or update, in UTF-8 bytes (Trigger.dev's 32 KB). */
export const MAX_INPUT_BYTES = 32_768;
export const MAX_TAGS = 10;
/** Deepest nesting of objects and arrays accepted in metadata or basePayload. */
export const MAX_JSON_DEPTH = 64;
export const MAX_TAG_LENGTH = 128;
export const MAX_EXTERNAL_ID_LENGTH = 256;
export const MAX_TYPE_LENGTH = 64;
export const MAX_TASK_IDENTIFIER_LENGTH = 128;
export const MAX_QUEUE_LENGTH = 128;
export const MAX_CLOSE_REASON_LENGTH = 256;
export const MAX_ATTEMPTS = { min: 1, max: 10 } as const;
export const IDLE_TIMEOUT_SECONDS = { min: 1, max: 3600 } as const;
export const MACHINES = ['micro', 'small-1x', 'small-2x', 'medium-1x', 'medium-2x', 'large-1x', 'large-2x'] as const;
/** Lifetime of the public access token createSession returns. */
export const SESSION_TOKEN_TTL_SECONDS = 3600;
/** Page size of sessions(first|last): at least 1, at most 100, 20 when neither is given. */
export const PAGE_SIZE = { min: 1, max: 100, default: 20 } as const;
/** The last millisecond of the year 9999: later times have no ISO 8601 form PostgreSQL reads. */
export const LATEST_TIME_MS = 253_402_300_799_999;
/** Values one list filter of sessions(filter) (or a REST filter[…]) may name. */
export const MAX_FILTER_VALUES = 100;
/** Numbers in metadata and basePayload: beyond ±(2^53 − 1) JSON numbers are not read back exactly. */
export const MAX_EXACT_NUMBER = Number.MAX_SAFE_INTEGER;
