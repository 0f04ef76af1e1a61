interface Waiting<V> {
  key: string;
  resolve(value: V | null): void;
  reject(error: unknown): void;
}

export interface LookupOptions<V> {
  /** How long an answer (found or not) is trusted before it is looked up again. */
  ttlMs: number;
  /** Most answers kept of each kind; the oldest leave first. */
  maxEntries: number;
  /** Most keys in one lookup. */
  maxBatch: number;
  /** The values of those keys that exist. */
  load(keys: string[]): Promise<Map<string, V>>;
  now?: () => number;
}

/**
 * A read-through cache for credentials. A fresh answer comes back at once, without a promise.
 * Keys not known are looked up in batches, one lookup at a time: however many made-up
 * credentials arrive together, they cost one statement on one connection, and a real one among
 * them is still found. Keys found and keys missing are kept apart, so made-up keys never push real
 * ones out. Failed lookups are not kept.
 */
export class LookupCache<V> {
  private readonly found = new Map<string, { value: V; at: number }>();
  private readonly missing = new Map<string, number>();
  private readonly loading = new Map<string, Promise<V | null>>();
  private queue: Waiting<V>[] = [];
  private running = false;
  private readonly now: () => number;

  constructor(private readonly options: LookupOptions<V>) {
    this.now = options.now ?? (() => performance.now());
  }

  /** A fresh answer: the value, null when known not to exist, undefined when it must be looked up. */
  peek(key: string): V | null | undefined {
    const now = this.now();
    const hit = this.found.get(key);
    if (hit && now - hit.at < this.options.ttlMs) return hit.value;
    const miss = this.missing.get(key);
    if (miss !== undefined && now - miss < this.options.ttlMs) return null;
    return undefined;
  }

  /** The value (null: no such key), at once when fresh, else from the next lookup. */
  get(key: string): V | null | Promise<V | null> {
    const fresh = this.peek(key);
    if (fresh !== undefined) return fresh;
    let pending = this.loading.get(key);
    if (!pending) {
      pending = new Promise<V | null>((resolve, reject) => this.queue.push({ key, resolve, reject }));
      this.loading.set(key, pending);
      void this.drain();
    }
    return pending;
  }

  private remember(key: string, value: V | null): void {
    const at = this.now();
    const map: Map<string, unknown> = value === null ? this.missing : this.found;
    map.delete(key);
    map.set(key, value === null ? at : { value, at });
    if (map.size > this.options.maxEntries) map.delete(map.keys().next().value!);
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      let values: Map<string, V> | undefined;
      let failure: unknown;
      try {
        values = await this.options.load(batch.map((w) => w.key));
      } catch (error) {
        failure = error;
      }
      for (const waiting of batch) {
        this.loading.delete(waiting.key);
        if (!values) {
          waiting.reject(failure);
          continue;
        }
        const value = values.get(waiting.key) ?? null;
        this.remember(waiting.key, value);
        waiting.resolve(value);
      }
    }
    this.running = false;
  }
}
