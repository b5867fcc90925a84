import type { Config, CredentialConfig } from '../config/types.ts';
import { nextRun } from '../config/schedule.ts';
import { coerceError } from '../errors.ts';
import { createEngineRuntime } from '../rotation/create-engine.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { STAGE, type SecretStore } from '../secrets/types.ts';
import { credentialsOrAll } from './credential-selection.ts';
import { formatAge, shortId, table } from './output.ts';

export interface CredentialStatus {
  credential: string;
  secretId: string;
  currentVersionId: string | null;
  /** When AWSCURRENT's version was created: the last rotation (or the secret's first value). */
  lastRotatedAt: string | null;
  ageMs: number | null;
  previousVersionId: string | null;
  pendingVersionId: string | null;
  pendingAgeMs: number | null;
  schedule: string;
  nextRunAt: string | null;
  error?: string;
}

/**
 * `status`: per credential, from version metadata only (ListSecretVersionIds reads no value, so
 * no password is even fetched): last rotation and its age, version ids, pending, next run.
 */
export async function runStatus(config: Config, options: { credential?: string[]; json?: boolean }, io: { out: (line: string) => void }): Promise<ExitCode> {
  const credentials = credentialsOrAll(config, options.credential);
  const runtime = createEngineRuntime(config);
  let statuses: CredentialStatus[];
  try {
    statuses = await Promise.all(credentials.map((credential) => statusOf(runtime.store, credential, Date.now())));
  } finally {
    runtime.close();
  }
  if (options.json) for (const s of statuses) io.out(JSON.stringify(s));
  else io.out(renderStatuses(statuses));
  return statuses.some((s) => s.error) ? EXIT.failed : EXIT.ok;
}

export async function statusOf(store: SecretStore, credential: CredentialConfig, now: number): Promise<CredentialStatus> {
  const next = nextRun(credential.schedule, credential.timezone, new Date(now));
  const status: CredentialStatus = {
    credential: credential.id,
    secretId: credential.secretId,
    currentVersionId: null,
    lastRotatedAt: null,
    ageMs: null,
    previousVersionId: null,
    pendingVersionId: null,
    pendingAgeMs: null,
    schedule: credential.schedule,
    nextRunAt: next ? next.toISOString() : null,
  };
  try {
    const versions = await store.listVersions(credential.secretId);
    const current = versions.find((v) => v.stages.includes(STAGE.current));
    const previous = versions.find((v) => v.stages.includes(STAGE.previous));
    const pending = versions.find((v) => v.stages.includes(STAGE.pending) && !v.stages.includes(STAGE.current));
    status.currentVersionId = current?.versionId ?? null;
    status.lastRotatedAt = current?.createdDate?.toISOString() ?? null;
    status.ageMs = current?.createdDate ? now - current.createdDate.getTime() : null;
    status.previousVersionId = previous?.versionId ?? null;
    status.pendingVersionId = pending?.versionId ?? null;
    status.pendingAgeMs = pending?.createdDate ? now - pending.createdDate.getTime() : null;
  } catch (err) {
    status.error = coerceError(err).message;
  }
  return status;
}

export function renderStatuses(statuses: CredentialStatus[]): string {
  const rows = statuses.map((s) => [
    s.credential,
    shortId(s.currentVersionId),
    s.ageMs === null ? '-' : formatAge(s.ageMs),
    shortId(s.previousVersionId),
    s.pendingVersionId ? `${shortId(s.pendingVersionId)} (${s.pendingAgeMs === null ? '?' : formatAge(s.pendingAgeMs)})` : 'no',
    s.nextRunAt ?? 'off',
  ]);
  const notes = statuses.filter((s) => s.error).map((s) => `${s.credential}: ${s.error}`);
  return [table(['CREDENTIAL', 'CURRENT', 'AGE', 'PREVIOUS', 'PENDING', 'NEXT RUN'], rows), ...notes].join('\n');
}
