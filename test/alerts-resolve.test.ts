/**
 * From a parsed alert to the credentials to rotate: by id (must be configured), by username and
 * cluster (every credential of that user on that cluster), by token (the fingerprint index, over
 * a small in-memory fake of the SecretStore port). Unmatched is an empty list.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { FingerprintIndex } from '../src/alerts/fingerprint-index.ts';
import { resolveGenericAlert, resolveGithubMatches, type ResolveDeps } from '../src/alerts/resolve-alert.ts';
import { LeakFlags } from '../src/queue/leak-flags.ts';
import { STAGE, type SecretStore, type SecretVersion, type Stage } from '../src/secrets/types.ts';
import { makeConfig } from './helpers/config.ts';

const config = makeConfig(
  ['prod-west', 'prod-east', 'staging'],
  [
    { id: 'app-reader', username: 'app_reader', clusters: ['prod-west', 'prod-east'] },
    { id: 'app-reader-dr', username: 'app_reader', clusters: ['prod-east'] },
    { id: 'app-reader-staging', username: 'app_reader', clusters: ['staging'] },
    { id: 'app-writer', username: 'app_writer', clusters: ['prod-west'] },
  ],
);

const PASSWORDS: Record<string, Partial<Record<Stage, [string, string]>>> = {
  'app-reader': { [STAGE.current]: ['v-r-c', 'Rc7#kP2@xQ9!mW4%tZ6^vB8'], [STAGE.previous]: ['v-r-v', 'Rv9_aT4-uE6#oI2@pY8!rN3'] },
  'app-writer': { [STAGE.current]: ['v-w-c', 'Wc2^bM7+qX5=hK9*lJ3?dG6'], [STAGE.pending]: ['v-w-p', 'Wp5?sD8=fG1+hJ4*kL7~zX0'] },
};

function store(): SecretStore {
  const notUsed = (): never => {
    throw new Error('not used by the fingerprint index');
  };
  const credentialOf = (secretId: string) => Object.values(config.credentials).find((c) => c.secretId === secretId);
  return {
    async describe(secretId) {
      const credential = credentialOf(secretId);
      const versions: Record<string, string[]> = {};
      for (const [stage, [versionId]] of Object.entries(credential === undefined ? {} : PASSWORDS[credential.id] ?? {})) versions[versionId] = [stage];
      return { arn: secretId, name: secretId, versions };
    },
    async getByVersion(secretId, versionId): Promise<SecretVersion | null> {
      const credential = credentialOf(secretId);
      const found = Object.entries(credential === undefined ? {} : PASSWORDS[credential.id] ?? {}).find(([, [id]]) => id === versionId);
      if (credential === undefined || found === undefined) return null;
      return { versionId, stages: [found[0]], value: JSON.stringify({ username: credential.username, password: found[1][1] }) };
    },
    getByStage: notUsed,
    listVersions: notUsed,
    putPending: notUsed,
    promote: notUsed,
    abandon: notUsed,
  };
}

let deps: ResolveDeps;

/** An alternating credential (users app_a and app_b) on prod-west. */
const alternating = {
  id: 'app-alt',
  strategy: 'alternating' as const,
  secretId: 'prod/milvus/app-alt',
  usernames: ['app_a', 'app_b'] as const,
  graceMs: 7_200_000,
  clusters: ['prod-west'],
  schedule: 'off',
  timezone: 'UTC',
  password: { length: 32, symbols: '!#%*+-=?@^_~' },
};

beforeAll(async () => {
  const index = new FingerprintIndex({ store: store(), credentials: config.credentials });
  await index.refresh();
  deps = { config, index };
});

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe('resolveGenericAlert', () => {
  it('resolves a configured credential id to that credential', async () => {
    expect(await resolveGenericAlert({ by: 'credential', credential: 'app-writer', id: 'a1' }, deps)).toEqual([
      { credential: 'app-writer', via: 'credential' },
    ]);
  });

  it.each(['no-such-credential', 'constructor', 'toString', 'hasOwnProperty'])('resolves an unknown credential id (%s) to nothing', async (id) => {
    expect(await resolveGenericAlert({ by: 'credential', credential: id }, deps)).toEqual([]);
  });

  it('resolves username and cluster to every credential of that user on that cluster', async () => {
    const resolved = await resolveGenericAlert({ by: 'username-cluster', username: 'app_reader', cluster: 'prod-east' }, deps);
    expect(resolved.map((r) => r.credential).sort()).toEqual(['app-reader', 'app-reader-dr']);
    expect(resolved.every((r) => r.via === 'username-cluster')).toBe(true);
    // The leaked user travels with each credential (an alternating one then changes only that user when retired).
    expect(resolved.every((r) => r.username === 'app_reader')).toBe(true);
  });

  it('finds an alternating credential by either of its users', async () => {
    const withAlt = { ...deps, config: { credentials: { ...deps.config.credentials, 'app-alt': alternating } } };
    expect(await resolveGenericAlert({ by: 'username-cluster', username: 'app_b', cluster: 'prod-west' }, withAlt)).toEqual([{ credential: 'app-alt', via: 'username-cluster', username: 'app_b' }]);
  });

  it.each([
    ['a user not on that cluster', 'app_writer', 'prod-east'],
    ['an unknown cluster', 'app_reader', 'prod-north'],
    ['an unknown user', 'nobody', 'prod-west'],
  ])('resolves %s to nothing', async (_label, username, cluster) => {
    expect(await resolveGenericAlert({ by: 'username-cluster', username, cluster }, deps)).toEqual([]);
  });

  it('resolves a tokenSha256 through the index, with the stage and version holding the password', async () => {
    expect(await resolveGenericAlert({ by: 'token', tokenSha256: sha256Hex('app_writer:Wp5?sD8=fG1+hJ4*kL7~zX0') }, deps)).toEqual([
      { credential: 'app-writer', via: 'token', stage: STAGE.pending, versionId: 'v-w-p' },
    ]);
  });

  it('resolves an unknown tokenSha256 to nothing', async () => {
    expect(await resolveGenericAlert({ by: 'token', tokenSha256: sha256Hex('not ours') }, deps)).toEqual([]);
  });
});

describe('resolveGithubMatches', () => {
  it('resolves each matched token once per credential, keeping the most live stage, and skips tokens that are not ours', async () => {
    const matches = [
      { token: 'Rv9_aT4-uE6#oI2@pY8!rN3' },
      { token: 'some-random-npm-token' },
      { token: 'app_reader:Rc7#kP2@xQ9!mW4%tZ6^vB8' },
      { token: 'https://app_writer:Wc2%5EbM7%2BqX5%3DhK9*lJ3%3FdG6@in01.example.com:19530' },
    ];
    expect(await resolveGithubMatches(matches, deps)).toEqual([
      { credential: 'app-reader', via: 'token', stage: STAGE.current, versionId: 'v-r-c' },
      { credential: 'app-writer', via: 'token', stage: STAGE.current, versionId: 'v-w-c' },
    ]);
  });

  it('resolves a batch of tokens that are not ours to nothing', async () => {
    expect(await resolveGithubMatches([{ token: 'ghp_notours' }, { token: 'user:pass' }], deps)).toEqual([]);
  });
});

describe('token matches on an alternating credential', () => {
  const versions: Partial<Record<Stage, SecretVersion>> = {
    [STAGE.current]: { versionId: 'v-a', stages: [STAGE.current], value: JSON.stringify({ username: 'app_a', password: 'Aa3#kP2@xQ9!mW4%tZ6^vB8' }) },
    [STAGE.previous]: { versionId: 'v-b', stages: [STAGE.previous], value: JSON.stringify({ username: 'app_b', password: 'Bb9_aT4-uE6#oI2@pY8!rN3' }) },
  };
  let altDeps: ResolveDeps;
  beforeAll(async () => {
    const all = Object.values(versions);
    const index = new FingerprintIndex({
      store: {
        describe: async (secretId) => ({ arn: secretId, name: secretId, versions: Object.fromEntries(all.map((v) => [v.versionId, v.stages])) }),
        getByVersion: async (_secretId, versionId) => all.find((v) => v.versionId === versionId) ?? null,
      },
      credentials: { 'app-alt': alternating },
    });
    await index.refresh();
    altDeps = { config: { credentials: { 'app-alt': alternating } }, index };
  });

  it('names the user of the matched version: the retired user\'s password is a leak of that user alone', async () => {
    expect(await resolveGenericAlert({ by: 'token', tokenSha256: sha256Hex('Bb9_aT4-uE6#oI2@pY8!rN3') }, altDeps)).toEqual([
      { credential: 'app-alt', via: 'token', stage: STAGE.previous, versionId: 'v-b', username: 'app_b' },
    ]);
    expect(await resolveGithubMatches([{ token: 'app_a:Aa3#kP2@xQ9!mW4%tZ6^vB8' }], altDeps)).toEqual([
      { credential: 'app-alt', via: 'token', stage: STAGE.current, versionId: 'v-a', username: 'app_a' },
    ]);
  });

  it('names no user when the tokens of one batch match both users (both may have leaked)', async () => {
    expect(await resolveGithubMatches([{ token: 'Bb9_aT4-uE6#oI2@pY8!rN3' }, { token: 'Aa3#kP2@xQ9!mW4%tZ6^vB8' }], altDeps)).toEqual([
      { credential: 'app-alt', via: 'token', stage: STAGE.current, versionId: 'v-a' },
    ]);
  });
});

describe('LeakFlags.leakedUsername', () => {
  it('names the user only when the waiting notices all named the same one (the summary says so)', () => {
    expect(LeakFlags.leakedUsername({ username: 'app_b', count: 2 })).toBe('app_b');
    // Mixed, unnamed or unreadable notices leave no single user in the summary: any may have leaked.
    expect(LeakFlags.leakedUsername({ count: 2 })).toBeUndefined();
    expect(LeakFlags.leakedUsername({ username: 'app_b', count: 0 })).toBeUndefined();
  });
});
