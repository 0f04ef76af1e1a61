import { readFileSync } from 'node:fs';

/**
 * The version in package.json, the one place it is written: read at start from src/ (tsx, tests)
 * or from dist/ (the build npm start runs), both one level below it.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
