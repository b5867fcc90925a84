/**
 * What a CLI run opened and must close. Each resource (a connection, a queue, a listener, a server)
 * registers its release the moment it is created; `main` runs them all, newest first, in its
 * `finally`, each within a bound, and names any that did not finish. The process then exits under
 * an unref'd watchdog (`exitWithin`): a handle nobody registered cannot keep it alive either.
 */

/** How long one release may take before it is reported as stuck and skipped. */
export const RELEASE_BOUND_MS = 2_000;

/** How long after `main` returns the process may take to exit by itself before it is forced. */
export const EXIT_WATCHDOG_MS = 3_000;

interface Release {
  name: string;
  release: () => Promise<void> | void;
  /** Its own bound, for a release that waits on purpose (the notifications' drain). */
  boundMs: number | undefined;
}

export class Releases {
  private readonly pending: Release[] = [];

  /**
   * Registers `release` for the resource called `name`; returns the resource for inline use.
   * `options.boundMs` replaces releaseAll's bound for this release (one that waits on purpose).
   */
  add<T>(name: string, resource: T, release: (resource: T) => Promise<void> | void, options: { boundMs?: number } = {}): T {
    this.pending.push({ name, release: () => release(resource), boundMs: options.boundMs });
    return resource;
  }

  /**
   * Runs every registered release, newest first (a queue before the connection it uses), each
   * within `boundMs` (or its own); a release that throws or does not finish in time is named in
   * the result. Releases already run are not run again.
   */
  async releaseAll(boundMs = RELEASE_BOUND_MS): Promise<{ stuck: string[]; failed: string[] }> {
    const stuck: string[] = [];
    const failed: string[] = [];
    while (this.pending.length > 0) {
      const { name, release, boundMs: own } = this.pending.pop() as Release;
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        Promise.resolve()
          .then(release)
          .then(
            () => 'done' as const,
            () => 'failed' as const,
          ),
        new Promise<'stuck'>((resolve) => {
          timer = setTimeout(() => resolve('stuck'), own ?? boundMs);
        }),
      ]);
      clearTimeout(timer);
      if (outcome === 'stuck') stuck.push(name);
      if (outcome === 'failed') failed.push(name);
    }
    return { stuck, failed };
  }
}

/**
 * Sets the exit code and arms an unref'd timer that forces the exit after `boundMs` if something
 * still holds the event loop, saying on stderr what it was. The timer itself holds nothing: a
 * process whose resources are all closed exits at once.
 */
export function exitWithin(code: number, boundMs = EXIT_WATCHDOG_MS, err: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): void {
  process.exitCode = code;
  const timer = setTimeout(() => {
    // Only what keeps the event loop alive is listed: never this unref'd watchdog, so every entry
    // (a `Timeout` included) is a real holder.
    const holders = process.getActiveResourcesInfo();
    err(`warning: the process did not exit ${boundMs} ms after the command ended (still open: ${holders.join(', ') || 'unknown'}); forcing exit ${code}`);
    process.exit(code);
  }, boundMs);
  timer.unref();
}
