interface Entry<V> {
  value: Promise<V>;
  /** Set once the load has succeeded, so a hit can be answered without a promise. */
  loaded?: { value: V };
  loadedAt: number;
}

/**
 * A small read-through cache: each key is loaded at most once per `ttlMs`, concurrent misses share
 * one load, and the oldest entries leave first when it is full. Failed loads are not kept.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, Entry<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly load: (key: string) => Promise<V>,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  get(key: string): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && this.now() - hit.loadedAt < this.ttlMs) return hit.value;
    if (hit) this.entries.delete(key);
    const value = this.load(key);
    const entry: Entry<V> = { value, loadedAt: this.now() };
    this.entries.set(key, entry);
    value.then(
      (loaded) => (entry.loaded = { value: loaded }),
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return value;
  }

  /** The value of a fresh, loaded entry, or undefined: no promise on the hot path. */
  peek(key: string): { value: V } | undefined {
    const hit = this.entries.get(key);
    return hit && this.now() - hit.loadedAt < this.ttlMs ? hit.loaded : undefined;
  }

  /** Whether a fresh entry exists, so that `get` would cost no load. */
  has(key: string): boolean {
    const hit = this.entries.get(key);
    return hit !== undefined && this.now() - hit.loadedAt < this.ttlMs;
  }

  clear(): void {
    this.entries.clear();
  }
}
