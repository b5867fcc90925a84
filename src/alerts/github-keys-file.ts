/**
 * GitHub's secret-scanning public keys, kept current: the file (`leakAlerts.githubKeysFile`) is
 * re-read whenever its modification time or size changes (polled every GITHUB_KEYS_POLL_MS), so a
 * key GitHub adds when it rotates its keys is accepted without a restart. A file that becomes
 * unreadable or invalid keeps the keys last loaded (logged as an error): a broken update must not
 * take the feed down. Until a first load succeeds, there are no keys (the route answers 503).
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { loadGithubKeys, type GithubKeys } from './github-partner.ts';

/** How often the file's stat is polled (a stat, no read, when nothing changed). */
export const GITHUB_KEYS_POLL_MS = 5_000;

export interface GithubKeysLog {
  info: (fields: Record<string, unknown>, message: string) => void;
  error: (fields: Record<string, unknown>, message: string) => void;
}

export interface GithubKeysFile {
  /** The keys now (null until a load succeeded). */
  current: () => GithubKeys | null;
  /** Re-reads the file now (the poller calls this on a change). */
  reload: () => Promise<void>;
  stop: () => void;
}

export function watchGithubKeys(path: string, initial: GithubKeys | null, log: GithubKeysLog, options: { pollMs?: number; load?: (path: string) => Promise<GithubKeys> } = {}): GithubKeysFile {
  const load = options.load ?? loadGithubKeys;
  let keys = initial;
  let loading: Promise<void> | null = null;
  // A change seen while a load runs: that load may have read the file before the change (or half
  // written), so one more load follows it.
  let changedMeanwhile = false;
  const loadOnce = (): Promise<void> =>
    load(path).then(
      (loaded) => {
        keys = loaded;
        log.info({ file: path, keyIdentifiers: [...loaded.keys()] }, 'GitHub secret scanning public keys reloaded');
      },
      (error: unknown) => {
        log.error({ file: path, err: { message: error instanceof Error ? error.message : 'unreadable' } }, 'GitHub public keys file changed but is unusable: keeping the keys loaded before');
      },
    );
  const reload = async (): Promise<void> => {
    if (loading !== null) {
      changedMeanwhile = true;
      return loading;
    }
    loading = (async () => {
      do {
        changedMeanwhile = false;
        await loadOnce();
      } while (changedMeanwhile);
    })().finally(() => {
      loading = null;
    });
    return loading;
  };
  const onChange = (now: Stats, before: Stats): void => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) void reload();
  };
  watchFile(path, { interval: options.pollMs ?? GITHUB_KEYS_POLL_MS, persistent: false }, onChange);
  return {
    current: () => keys,
    reload,
    stop: () => unwatchFile(path, onChange),
  };
}
