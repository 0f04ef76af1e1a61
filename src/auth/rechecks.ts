import { ForbiddenError } from '../sessions/errors.js';
import { UnauthenticatedError } from './errors.js';

/** How often open streams check their credential again: a rotated key ends them within this. */
export const RECHECK_CREDENTIAL_MS = 1000;

/** A live stream, as far as its credential's checks go. */
export interface Stream {
  end(error: unknown): void;
  onEnd(cleanup: () => void): void;
}

interface Watched {
  check: () => unknown;
  streams: Set<Stream>;
  checking: boolean;
}

/**
 * Ends live streams once the credential that opened them stops working (a rotated key, an expired
 * token). One check per credential every RECHECK_CREDENTIAL_MS serves all of its streams, so ten
 * thousand idle subscriptions cost as many checks as there are credentials holding them. A check
 * that fails for another reason (the database does not answer) ends nothing: next time.
 */
export class CredentialRechecks {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | undefined;

  /** Watches `stream` for as long as it lives; `check` throws once the credential is no good. */
  add(credentialId: string, check: () => unknown, stream: Stream): void {
    let entry = this.watched.get(credentialId);
    if (!entry) this.watched.set(credentialId, (entry = { check, streams: new Set(), checking: false }));
    const watched = entry;
    watched.streams.add(stream);
    stream.onEnd(() => {
      watched.streams.delete(stream);
      if (watched.streams.size === 0 && this.watched.get(credentialId) === watched) this.watched.delete(credentialId);
      if (this.watched.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.checkAll(), RECHECK_CREDENTIAL_MS);
      this.timer.unref();
    }
  }

  private checkAll(): void {
    for (const watched of this.watched.values()) {
      if (watched.checking) continue;
      watched.checking = true;
      Promise.resolve()
        .then(watched.check)
        .catch((error: unknown) => {
          if (error instanceof UnauthenticatedError || error instanceof ForbiddenError) {
            for (const stream of [...watched.streams]) stream.end(error);
          }
        })
        .finally(() => (watched.checking = false));
    }
  }
}
