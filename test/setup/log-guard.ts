import { format } from 'node:util';
import { afterAll } from 'vitest';
import { configureLogging } from '../../src/log.js';

/**
 * Across the whole suite, nothing the service logs may hold SQL text, a statement's parameters,
 * a secret key or a token: every log line and console line is checked, and a file that printed one
 * fails.
 */
const FORBIDDEN: [string, RegExp][] = [
  ['a failed statement', /Failed query|\bparams: /i],
  ['SQL text', /\b(insert into|delete from|update "sessions"|select "|from "(sessions|api_keys|environments)")/i],
  ['a secret key', /\btr_(dev|stg|prod|prev)_[A-Za-z0-9_-]{24,}/],
  ['a public access token', /\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/],
];

const seen: string[] = [];
/** Every line the service logged in this test file (tests of the log read them). */
export const logged: string[] = [];
const check = (where: string, line: string) => {
  for (const [what, pattern] of FORBIDDEN) if (pattern.test(line)) seen.push(`${what} in ${where}: ${line.slice(0, 300)}`);
};

// The service's own log (pino), line by line, on to stdout.
configureLogging({
  level: process.env['LOG_LEVEL'] ?? 'info',
  pretty: false,
  destination: {
    write(line: string) {
      check('the log', line);
      logged.push(line);
      if (logged.length > 20_000) logged.splice(0, 10_000);
      process.stdout.write(line);
    },
  },
});

for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    check(`console.${method}`, format(...args));
    original(...args);
  };
}

afterAll(() => {
  if (seen.length > 0) throw new Error(`the service logged what it must not:\n${seen.join('\n')}`);
});
