import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Another process has the embedded database open; PGlite serves one process at a time. */
export class DataDirLockedError extends Error {}

interface Holder {
  pid: number;
  command: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): Holder | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Holder;
  } catch {
    return null;
  }
}

/**
 * Takes the data directory for this process, or throws DataDirLockedError naming the process
 * that has it. A lock left by a process that died is taken over. Released when the process exits.
 */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'sessions-gateway.lock');
  const mine: Holder = { pid: process.pid, command: process.argv.slice(1).join(' '), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(mine), { flag: 'wx' });
      const release = () => {
        if (readHolder(file)?.pid === process.pid) unlinkSync(file);
        process.off('exit', release);
      };
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(file);
      if (holder && alive(holder.pid) && holder.pid !== process.pid) {
        throw new DataDirLockedError(
          `The embedded database in ${dir} is in use by process ${holder.pid} (${holder.command}, since ${holder.since}). ` +
            'PGlite serves one process at a time: stop that process and run this again, or use a PostgreSQL server (DATABASE_URL).',
        );
      }
      try {
        unlinkSync(file); // left behind by a process that is gone
      } catch {
        // another process took it over first; the next attempt tells
      }
    }
  }
  throw new DataDirLockedError(`Could not lock the embedded database in ${dir}: another process keeps taking it`);
}
