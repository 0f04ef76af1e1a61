import { parseArgs } from 'node:util';
import { createEnvironment, createToken, ENVIRONMENT_TYPES, rotateKey } from './auth/environments.js';
import type { EnvironmentType } from './auth/keys.js';
import { parseTtl } from './auth/tokens.js';
import { loadConfig } from './config.js';
import { type Database, openDatabase } from './db/client.js';
import { describeCondition, diagnose } from './db/conditions.js';
import { describeError, isDatabaseError } from './log.js';
import { VERSION } from './version.js';

const USAGE = `usage: npm run -s cli -- <command> [options]

  env create --slug SLUG --type DEVELOPMENT|STAGING|PRODUCTION|PREVIEW [--json]
  key rotate --env SLUG [--json]
  token create --env SLUG --scopes read:sessions:ID[,...] [--ttl 1h] [--json]
  migrate

DATABASE_URL (or PGLITE_DIR) chooses the database, as for npm start. With --json, stdout holds
exactly one JSON object (the result); a failure prints one line on stderr and nothing on stdout.
npm's -s (--silent) keeps npm's own "> script" banner off stdout.`;

const OPTIONS = {
  slug: { type: 'string' },
  type: { type: 'string' },
  env: { type: 'string' },
  scopes: { type: 'string' },
  ttl: { type: 'string', default: '1h' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', default: false },
} as const;

// A failing command prints on stderr only: stdout is for results.
function refuse(message: string, code = 2): never {
  console.error(`error: ${message}`);
  process.exit(code);
}

let parsed: ReturnType<typeof parseArgs<{ allowPositionals: true; options: typeof OPTIONS }>>;
try {
  parsed = parseArgs({ allowPositionals: true, options: OPTIONS });
} catch (error) {
  refuse(`${(error as Error).message}\n\n${USAGE}`);
}
const { positionals, values } = parsed;

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
if (values.version) {
  console.log(values.json ? JSON.stringify({ version: VERSION }) : VERSION);
  process.exit(0);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!command) refuse(`no command given\n\n${USAGE}`);

/**
 * An error says what to do in its message; a database that cannot be reached is named in plain
 * words; any other database error is told by its codes only (no SQL).
 */
function explain(error: unknown, databaseUrl: string | undefined): string {
  const condition = diagnose(error, databaseUrl);
  if (condition) return `${describeCondition(condition)}${condition.heals ? ' (this can pass by itself: try again shortly)' : ''}`;
  return isDatabaseError(error) || !(error instanceof Error) ? describeError(error) : error.message;
}

let database: Database | undefined;
let databaseUrl: string | undefined;
try {
  const config = loadConfig();
  databaseUrl = config.databaseUrl;
  database = await openDatabase(config);
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
      const scopes = required('scopes')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const token = await createToken(db, required('env'), scopes, parseTtl(values.ttl));
      print(token, `${token.token}\nexpires at ${token.expiresAt}`);
      break;
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
} catch (error) {
  console.error(`error: ${explain(error, databaseUrl)}`);
  process.exitCode = 1;
} finally {
  await database?.close();
}
