import { TRIGGER_CONFIG, type TriggerConfig } from '../sessions/rules.js';
import { builder } from './builder.js';

// Both types come field by field from the core's TRIGGER_CONFIG table: its kinds, its descriptions.
const { basePayload, ...options } = TRIGGER_CONFIG;
type Option = (typeof options)[keyof typeof options];
const optionEntries = Object.entries(options) as [Exclude<keyof TriggerConfig, 'basePayload'>, Option][];

export const SessionTriggerConfig = builder.objectRef<TriggerConfig>('SessionTriggerConfig').implement({
  description: 'Trigger options applied to every run the session schedules.',
  fields: (t) => ({
    basePayload: t.expose('basePayload', { type: 'JSONObject', description: basePayload.description }),
    ...Object.fromEntries(
      optionEntries.map(([name, { kind, description }]) => {
        if (kind === 'strings') return [name, t.exposeStringList(name as 'tags', { nullable: true, description })];
        if (kind === 'int') return [name, t.exposeInt(name as 'maxAttempts', { nullable: true, description })];
        return [name, t.exposeString(name as 'queue', { nullable: true, description })];
      }),
    ),
  }),
});

export const SessionTriggerConfigInput = builder.inputType('SessionTriggerConfigInput', {
  description: 'Trigger options for every run of the session.',
  fields: (t) => ({
    basePayload: t.field({ type: 'JSONObject', required: true, description: basePayload.description }),
    ...Object.fromEntries(
      optionEntries.map(([name, { kind, description }]) => {
        if (kind === 'strings') return [name, t.stringList({ description })];
        if (kind === 'int') return [name, t.int({ description })];
        return [name, t.string({ description })];
      }),
    ),
  }),
});
