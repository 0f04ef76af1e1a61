import { parseArgs } from 'node:util';
import { createEnvironment, createToken, ENVIRONMENT_TYPES, rotateKey } from './auth/environments.js';
import type { EnvironmentType } from './auth/keys.js';
import { parseTtl } from './auth/tokens.js';
import { loadConfig } from './config.js';
import { type Database, openDatabase } from './db/client.js';
import { describeError, isDatabaseError } from './log.js';

const USAGE = `usage: npm run cli -- <command> [options]

  env create --slug SLUG --type DEVELOPMENT|STAGING|PRODUCTION|PREVIEW [--json]
  key rotate --env SLUG [--json]
  token create --env SLUG --scopes read:sessions:ID[,...] [--ttl 1h] [--json]
  migrate

DATABASE_URL (or PGLITE_DIR) chooses the database, as for npm start.`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    slug: { type: 'string' },
    type: { type: 'string' },
    env: { type: 'string' },
    scopes: { type: 'string' },
    ttl: { type: 'string', default: '1h' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

class UsageError extends Error {}

function required(name: 'slug' | 'type' | 'env' | 'scopes'): string {
  const value = values[name];
  if (!value) throw new UsageError(`--${name} is required\n\n${USAGE}`);
  return value;
}

function print(result: object, human: string): void {
  console.log(values.json ? JSON.stringify(result) : human);
}

const command = positionals.join(' ');
if (values.help || !command) {
  console.log(USAGE);
  process.exit(command || values.help ? 0 : 2);
}

/** An error says what to do in its message; a database error is told by its codes only (no SQL). */
function explain(error: unknown): string {
  return isDatabaseError(error) || !(error instanceof Error) ? describeError(error) : error.message;
}

let database: Database | undefined;
try {
  database = await openDatabase(loadConfig());
  await database.migrate();
  const { db } = database;
  switch (command) {
    case 'migrate':
      print({ migrated: true }, 'database migrated');
      break;
    case 'env create': {
      const type = required('type').toUpperCase();
      if (!ENVIRONMENT_TYPES.includes(type as EnvironmentType)) {
        throw new UsageError(`--type must be one of ${ENVIRONMENT_TYPES.join(', ')}`);
      }
      const env = await createEnvironment(db, required('slug'), type as EnvironmentType);
      print(env, `created ${env.type} environment "${env.slug}" (${env.environmentId})\nsecret key: ${env.secretKey}`);
      break;
    }
    case 'key rotate': {
      const rotated = await rotateKey(db, required('env'));
      print(rotated, `new secret key for "${rotated.slug}": ${rotated.secretKey}\nthe old key stops working within a second`);
      break;
    }
    case 'token create': {
      const scopes = required('scopes').split(',').map((s) => s.trim()).filter(Boolean);
      const token = await createToken(db, required('env'), scopes, parseTtl(values.ttl));
      print(token, `${token.token}\nexpires at ${token.expiresAt}`);
      break;
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
} catch (error) {
  console.error(`error: ${explain(error)}`);
  process.exitCode = 1;
} finally {
  await database?.close();
}
