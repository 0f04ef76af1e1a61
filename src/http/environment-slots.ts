export type Release = () => void;

interface Line {
  running: number;
  waiting: ((release: Release) => void)[];
}

/**
 * Bounds the work one environment has in progress on this instance: at most `concurrency`
 * requests at once, the next ones waiting in line (at most `queue` of them), so a tenant's heavy
 * but legal requests wait behind each other rather than in front of everyone else's.
 */
export class EnvironmentSlots {
  private readonly lines = new Map<string, Line>();

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  /** A slot's release, at once when one is free, else once one frees up; null when the line is full. */
  acquire(environmentId: string): Release | Promise<Release> | null {
    let line = this.lines.get(environmentId);
    if (!line) this.lines.set(environmentId, (line = { running: 0, waiting: [] }));
    if (line.running < this.concurrency) {
      line.running++;
      return this.releaser(environmentId, line);
    }
    if (line.waiting.length >= this.queue) return null;
    const waiting = line.waiting;
    return new Promise((resolve) => waiting.push(resolve));
  }

  /** Requests of the environment in progress and waiting (tests and metrics). */
  load(environmentId: string): { running: number; waiting: number } {
    const line = this.lines.get(environmentId);
    return { running: line?.running ?? 0, waiting: line?.waiting.length ?? 0 };
  }

  private releaser(environmentId: string, line: Line): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = line.waiting.shift();
      // The slot passes straight to the next in line.
      if (next) return next(this.releaser(environmentId, line));
      line.running--;
      if (line.running === 0) this.lines.delete(environmentId);
    };
  }
}
