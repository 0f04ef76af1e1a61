export type Release = () => void;

interface Waiting {
  weight: number;
  resolve(release: Release): void;
}

interface Line {
  running: number;
  waiting: Waiting[];
}

/**
 * Bounds the work one environment has in progress on this instance: at most `concurrency`
 * operations at once (a batch weighs as many as it holds), the next ones waiting in line (at most
 * `queue` of them), so a tenant's heavy but legal requests wait behind each other rather than in
 * front of everyone else's, and the memory their answers hold stays bounded.
 */
export class EnvironmentSlots {
  private readonly lines = new Map<string, Line>();

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  /** A release, at once when there is room, else once there is; null when the line is full. */
  acquire(environmentId: string, weight = 1): Release | Promise<Release> | null {
    const need = Math.min(Math.max(1, weight), this.concurrency);
    let line = this.lines.get(environmentId);
    if (!line) this.lines.set(environmentId, (line = { running: 0, waiting: [] }));
    if (line.waiting.length === 0 && line.running + need <= this.concurrency) {
      line.running += need;
      return this.releaser(environmentId, line, need);
    }
    if (line.waiting.length >= this.queue) return null;
    const waiting = line.waiting;
    return new Promise((resolve) => waiting.push({ weight: need, resolve }));
  }

  /** Operations of the environment in progress and requests waiting (tests and metrics). */
  load(environmentId: string): { running: number; waiting: number } {
    const line = this.lines.get(environmentId);
    return { running: line?.running ?? 0, waiting: line?.waiting.length ?? 0 };
  }

  private releaser(environmentId: string, line: Line, weight: number): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      line.running -= weight;
      // First come, first served: the head of the line goes as soon as it fits.
      while (line.waiting[0] && line.running + line.waiting[0].weight <= this.concurrency) {
        const next = line.waiting.shift()!;
        line.running += next.weight;
        next.resolve(this.releaser(environmentId, line, next.weight));
      }
      if (line.running === 0 && line.waiting.length === 0) this.lines.delete(environmentId);
    };
  }
}
