/**
 * The fingerprint index: a leaked token (its SHA-256 or its raw text) is matched to the credential
 * version that holds it, across AWSCURRENT, AWSPENDING and AWSPREVIOUS, while the index keeps no
 * password and no plain hash of one.
 *
 * The store is a small in-memory fake of the SecretStore port. That is the one fake here, and it is
 * acceptable because the real store has HTTP tests of its own against the emulator
 * (test/secret-store.test.ts); what is under test is the index's logic. The fake keeps its values
 * in a closure, so inspecting the index shows the index's own structures, not the fake's data.
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FingerprintIndex, tokenCandidates, type FingerprintIndexOptions } from '../src/alerts/fingerprint-index.ts';
import { STAGE, type SecretStore, type SecretVersion, type Stage } from '../src/secrets/types.ts';
import { findExposures } from './helpers/exposure.ts';

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

interface FakeStore {
  store: SecretStore;
  /** Puts `stage` on version `versionId` (created with `password` if new), or with null removes `stage`. */
  label(secretId: string, stage: Stage, versionId: string, password: string | null, username?: string): void;
  /** Puts `stage` on a version holding raw text (for unparseable versions). */
  labelRaw(secretId: string, stage: Stage, versionId: string, value: string): void;
  /** A completed rotation: current -> previous, `versionId` with `password` -> current, no pending. */
  rotate(secretId: string, versionId: string, password: string, username?: string): void;
  /** The labels of a secret, as DescribeSecret reports them. */
  labels(secretId: string): Record<string, string[]>;
  /** `secretId describe` or `secretId <versionId>` of every call, in order. */
  reads: string[];
  /** Secret ids whose reads fail. */
  failing: Set<string>;
  /** Awaited before each read (to hold a load in flight). */
  beforeRead: ((secretId: string) => Promise<void>) | null;
  /** Highest number of secrets being read at once. */
  maxConcurrentSecrets: () => number;
}

/** A versioned fake: values never change under a version id, labels move between versions. */
function fakeStore(): FakeStore {
  const data = new Map<string, Map<string, { value: string; stages: Set<string> }>>();
  const inFlight = new Map<string, number>();
  let maxConcurrent = 0;
  const notUsed = (name: string) => (): never => {
    throw new Error(`${name} is not used by the fingerprint index`);
  };
  const versionsOf = (secretId: string): Map<string, { value: string; stages: Set<string> }> => {
    const versions = data.get(secretId) ?? new Map<string, { value: string; stages: Set<string> }>();
    data.set(secretId, versions);
    return versions;
  };
  const read = async <T>(secretId: string, what: string, take: () => T): Promise<T> => {
    fake.reads.push(`${secretId} ${what}`);
    inFlight.set(secretId, (inFlight.get(secretId) ?? 0) + 1);
    maxConcurrent = Math.max(maxConcurrent, inFlight.size);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      // The answer is taken before the gate: a held read returns what was there when it ran.
      const answer = take();
      if (fake.beforeRead !== null) await fake.beforeRead(secretId);
      if (fake.failing.has(secretId)) throw new Error(`${what} ${secretId}: throttled`);
      return answer;
    } finally {
      const left = (inFlight.get(secretId) ?? 1) - 1;
      if (left === 0) inFlight.delete(secretId);
      else inFlight.set(secretId, left);
    }
  };
  const fake: FakeStore = {
    reads: [],
    failing: new Set(),
    beforeRead: null,
    maxConcurrentSecrets: () => maxConcurrent,
    label(secretId, stage, versionId, password, username = 'app_reader') {
      if (password === null) {
        for (const version of versionsOf(secretId).values()) version.stages.delete(stage);
        return;
      }
      fake.labelRaw(secretId, stage, versionId, JSON.stringify({ username, password, host: 'in01.example.com' }));
    },
    labelRaw(secretId, stage, versionId, value) {
      const versions = versionsOf(secretId);
      for (const version of versions.values()) version.stages.delete(stage);
      const version = versions.get(versionId) ?? { value, stages: new Set<string>() };
      version.stages.add(stage);
      versions.set(versionId, version);
    },
    rotate(secretId, versionId, password, username = 'app_reader') {
      const versions = versionsOf(secretId);
      const current = [...versions.values()].find((v) => v.stages.has(STAGE.current));
      if (current === undefined) throw new Error(`no current version of ${secretId}`);
      for (const version of versions.values()) {
        version.stages.delete(STAGE.previous);
        version.stages.delete(STAGE.pending);
      }
      current.stages.delete(STAGE.current);
      current.stages.add(STAGE.previous);
      fake.label(secretId, STAGE.current, versionId, password, username);
    },
    labels(secretId) {
      const out: Record<string, string[]> = {};
      for (const [id, version] of versionsOf(secretId)) if (version.stages.size > 0) out[id] = [...version.stages];
      return out;
    },
    store: {
      describe: (secretId) => read(secretId, 'describe', () => ({ arn: secretId, name: secretId, versions: fake.labels(secretId) })),
      getByVersion: (secretId, versionId) =>
        read(secretId, versionId, (): SecretVersion | null => {
          const version = data.get(secretId)?.get(versionId);
          return version === undefined ? null : { versionId, stages: [...version.stages], value: version.value };
        }),
      getByStage: notUsed('getByStage'),
      listVersions: notUsed('listVersions'),
      putPending: notUsed('putPending'),
      promote: notUsed('promote'),
      abandon: notUsed('abandon'),
    } satisfies SecretStore,
  };
  return fake;
}

/** Generated-looking passwords; `@`, `#` and `%` need escaping in a URL's userinfo. */
const PW = {
  readerCurrent: 'Rc7#kP2@xQ9!mW4%tZ6^vB8',
  readerPending: 'Rp3=nL8*yH1?jD5+sF7~gC2',
  readerPrevious: 'Rv9_aT4-uE6#oI2@pY8!rN3',
  writerCurrent: 'Wc2^bM7+qX5=hK9*lJ3?dG6',
} as const;

interface Setup {
  fake: FakeStore;
  index: FingerprintIndex;
  clock: { nowMs: number };
}

const CREDENTIALS = {
  'app-reader': { id: 'app-reader', secretId: 'prod/milvus/app-reader' },
  'app-writer': { id: 'app-writer', secretId: 'prod/milvus/app-writer' },
};

/** Two credentials: app-reader with C, P and V, app-writer with C only. Not yet refreshed. */
function setup(options: Partial<FingerprintIndexOptions> = {}): Setup {
  const fake = fakeStore();
  fake.label('prod/milvus/app-reader', STAGE.current, 'v-reader-c', PW.readerCurrent);
  fake.label('prod/milvus/app-reader', STAGE.pending, 'v-reader-p', PW.readerPending);
  fake.label('prod/milvus/app-reader', STAGE.previous, 'v-reader-v', PW.readerPrevious);
  fake.label('prod/milvus/app-writer', STAGE.current, 'v-writer-c', PW.writerCurrent, 'app_writer');
  const clock = { nowMs: 1_750_000_000_000 };
  const index = new FingerprintIndex({ store: fake.store, credentials: CREDENTIALS, nowMs: () => clock.nowMs, ...options });
  return { fake, index, clock };
}

async function ready(options: Partial<FingerprintIndexOptions> = {}): Promise<Setup> {
  const s = setup(options);
  const report = await s.index.refresh();
  expect(report.failed).toEqual([]);
  s.fake.reads.length = 0;
  return s;
}

describe('FingerprintIndex', () => {
  describe('match by tokenSha256', () => {
    it('matches the sha256 of the AWSCURRENT password with its stage, version id and the user it names', async () => {
      const { index } = await ready();
      expect(await index.match({ tokenSha256: sha256Hex(PW.readerCurrent) })).toEqual([
        { credential: 'app-reader', stage: STAGE.current, versionId: 'v-reader-c', username: 'app_reader' },
      ]);
    });

    it('matches the sha256 of username:password', async () => {
      const { index } = await ready();
      expect(await index.match({ tokenSha256: sha256Hex(`app_writer:${PW.writerCurrent}`) })).toEqual([
        { credential: 'app-writer', stage: STAGE.current, versionId: 'v-writer-c', username: 'app_writer' },
      ]);
    });

    it.each([
      [STAGE.pending, PW.readerPending, 'v-reader-p'],
      [STAGE.previous, PW.readerPrevious, 'v-reader-v'],
    ])('matches a password under %s with that stage', async (stage, password, versionId) => {
      const { index } = await ready();
      expect(await index.match({ tokenSha256: sha256Hex(password) })).toEqual([{ credential: 'app-reader', stage, versionId, username: 'app_reader' }]);
      expect(await index.match({ tokenSha256: sha256Hex(`app_reader:${password}`) })).toEqual([{ credential: 'app-reader', stage, versionId, username: 'app_reader' }]);
    });

    it('accepts the hex in upper case', async () => {
      const { index } = await ready();
      expect(await index.match({ tokenSha256: sha256Hex(PW.readerCurrent).toUpperCase() })).toHaveLength(1);
    });

    it('does not match username:password under another username', async () => {
      const { index } = await ready();
      expect(await index.match({ tokenSha256: sha256Hex(`app_writer:${PW.readerCurrent}`) })).toEqual([]);
    });

    it('refuses a tokenSha256 that is not 64 hex characters (a bug in the caller)', async () => {
      const { index } = await ready();
      await expect(index.match({ tokenSha256: 'abc' })).rejects.toThrow(RangeError);
    });
  });

  describe('match by raw token', () => {
    it.each([
      ['the bare password', PW.readerCurrent],
      ['username:password', `app_reader:${PW.readerCurrent}`],
      ['another name before the colon', `someone_else:${PW.readerCurrent}`],
      ['the password with a trailing newline', `${PW.readerCurrent}\n`],
      ['a URL with the userinfo percent-encoded', `https://app_reader:${encodeURIComponent(PW.readerCurrent)}@in01.example.com:19530`],
      ['a URL with a path and a query', `http://app_reader:${encodeURIComponent(PW.readerCurrent)}@10.0.0.5:19530/v2?db=default`],
    ])('matches %s', async (_label, token) => {
      const { index } = await ready();
      expect(await index.matchToken(token)).toEqual([{ credential: 'app-reader', stage: STAGE.current, versionId: 'v-reader-c', username: 'app_reader' }]);
    });

    it('derives the URL userinfo candidates, decoded and as written', () => {
      const candidates = tokenCandidates('https://u:p%40ss@host');
      expect(candidates).toEqual(expect.arrayContaining(['p@ss', 'p%40ss', 'u:p@ss']));
    });

    it.each([
      ['an unknown password', 'Xx1#not-ours-at-all-42'],
      ['a prefix of a password', PW.readerCurrent.slice(0, 10)],
      ['a URL without a password', 'https://app_reader@in01.example.com'],
      ['the username alone', 'app_reader'],
    ])('misses %s', async (_label, token) => {
      const { index } = await ready();
      expect(await index.matchToken(token)).toEqual([]);
    });
  });

  describe('when a password was rotated after the last refresh', () => {
    it('finds the new value through one refresh on the miss, and the old one under AWSPREVIOUS', async () => {
      const { index, fake } = await ready();
      fake.rotate('prod/milvus/app-reader', 'v-reader-new', 'Nn4@cV7#zX1!wQ8%eR5^tY2');

      expect(await index.match({ tokenSha256: sha256Hex('Nn4@cV7#zX1!wQ8%eR5^tY2') })).toEqual([
        { credential: 'app-reader', stage: STAGE.current, versionId: 'v-reader-new', username: 'app_reader' },
      ]);
      // One DescribeSecret per credential, and the value of the one new version only.
      expect(fake.reads.sort()).toEqual(['prod/milvus/app-reader describe', 'prod/milvus/app-reader v-reader-new', 'prod/milvus/app-writer describe']);
      expect(await index.match({ tokenSha256: sha256Hex(PW.readerCurrent) })).toEqual([
        { credential: 'app-reader', stage: STAGE.previous, versionId: 'v-reader-c', username: 'app_reader' },
      ]);
    });

    it('refreshes on a miss at most once per interval, and again once the interval has passed', async () => {
      const { index, fake, clock } = await ready({ refreshOnMissIntervalMs: 30_000 });
      fake.rotate('prod/milvus/app-reader', 'v-1', 'One1#aaaaaaaaaaaaaaaaa');
      expect(await index.matchToken('One1#aaaaaaaaaaaaaaaaa')).toHaveLength(1);
      expect(fake.reads).toHaveLength(3);

      fake.rotate('prod/milvus/app-reader', 'v-2', 'Two2#bbbbbbbbbbbbbbbbb');
      clock.nowMs += 29_999;
      expect(await index.matchToken('Two2#bbbbbbbbbbbbbbbbb')).toEqual([]);
      expect(await index.matchToken('still-unknown-token-xyz')).toEqual([]);
      expect(fake.reads).toHaveLength(3);

      clock.nowMs += 1;
      expect(await index.matchToken('Two2#bbbbbbbbbbbbbbbbb')).toEqual([{ credential: 'app-reader', stage: STAGE.current, versionId: 'v-2', username: 'app_reader' }]);
      expect(fake.reads).toHaveLength(6);
    });

    it('lets concurrent misses share one refresh, and each of them sees its result', async () => {
      const { index, fake } = await ready();
      fake.rotate('prod/milvus/app-reader', 'v-burst', 'Bu5t#ddddddddddddddddd');
      const found = await Promise.all(Array.from({ length: 20 }, () => index.matchToken('Bu5t#ddddddddddddddddd')));
      expect(found.map((matches) => matches.map((match) => match.versionId))).toEqual(Array.from({ length: 20 }, () => ['v-burst']));
      expect(fake.reads).toHaveLength(3);
    });

    it('picks up one credential with refreshCredential, reading only its secret', async () => {
      const { index, fake } = await ready({ refreshOnMissIntervalMs: 60_000 });
      await index.matchToken('burn-the-miss-refresh');
      fake.reads.length = 0;
      fake.rotate('prod/milvus/app-writer', 'v-writer-2', 'Wn8!fG3@hJ6#kL9%zX2^cV5', 'app_writer');

      const report = await index.refreshCredential('app-writer');

      expect(report).toMatchObject({ credentials: 1, loaded: 1, failed: [] });
      expect(fake.reads.every((read) => read.startsWith('prod/milvus/app-writer '))).toBe(true);
      expect(await index.matchToken('Wn8!fG3@hJ6#kL9%zX2^cV5')).toEqual([{ credential: 'app-writer', stage: STAGE.current, versionId: 'v-writer-2', username: 'app_writer' }]);
    });

    it('forgets a password that is no longer under any label', async () => {
      const { index, fake } = await ready({ refreshOnMissIntervalMs: 60_000 });
      await index.matchToken('burn-the-miss-refresh');
      fake.rotate('prod/milvus/app-reader', 'v-a', 'Aa1#aaaaaaaaaaaaaaaaaa');
      fake.rotate('prod/milvus/app-reader', 'v-b', 'Bb2#bbbbbbbbbbbbbbbbbb');
      await index.refreshCredential('app-reader');
      expect(await index.matchToken(PW.readerPrevious)).toEqual([]);
      expect(await index.matchToken(PW.readerCurrent)).toEqual([]);
      expect(await index.matchToken('Aa1#aaaaaaaaaaaaaaaaaa')).toEqual([{ credential: 'app-reader', stage: STAGE.previous, versionId: 'v-a', username: 'app_reader' }]);
    });

    it('does not let a slow full refresh overwrite what a later refreshCredential read', async () => {
      const { index, fake } = await ready({ refreshOnMissIntervalMs: 60_000 });
      await index.matchToken('burn-the-miss-refresh'); // so the final lookup cannot repair the index
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      fake.beforeRead = async (secretId) => {
        if (secretId === 'prod/milvus/app-reader') await held;
      };
      const slow = index.refresh(); // reads app-reader before the rotation, but is held
      await new Promise((resolve) => setTimeout(resolve, 5));
      fake.beforeRead = null;
      fake.rotate('prod/milvus/app-reader', 'v-fresh', 'Fr3sh#ccccccccccccccccc');
      await index.refreshCredential('app-reader');
      release();
      await slow;
      expect(await index.matchToken('Fr3sh#ccccccccccccccccc')).toEqual([
        { credential: 'app-reader', stage: STAGE.current, versionId: 'v-fresh', username: 'app_reader' },
      ]);
    });
  });

  describe('what a refresh costs (change-driven: a value is read once per version id)', () => {
    it('an idle full refresh costs one DescribeSecret per credential and no GetSecretValue', async () => {
      const { index, fake } = await ready();
      const report = await index.refresh();
      expect(report).toMatchObject({ credentials: 2, loaded: 2, valuesRead: 0 });
      expect(fake.reads.sort()).toEqual(['prod/milvus/app-reader describe', 'prod/milvus/app-writer describe']);
    });

    it('matches a password another replica rotated a moment ago from its published labels, reading only the new version', async () => {
      const { index, fake } = await ready({ refreshOnMissIntervalMs: 60_000 });
      await index.matchToken('burn-the-miss-refresh');
      fake.reads.length = 0;
      fake.rotate('prod/milvus/app-reader', 'v-other-replica', 'Ot7#hR2@eP5!lI8%cA3^sX6');
      // What the rotating replica published through Redis: version ids and labels, no value.
      await index.applyLabels('app-reader', fake.labels('prod/milvus/app-reader'));
      expect(fake.reads).toEqual(['prod/milvus/app-reader v-other-replica']);
      expect(await index.matchToken('Ot7#hR2@eP5!lI8%cA3^sX6')).toEqual([{ credential: 'app-reader', stage: STAGE.current, versionId: 'v-other-replica', username: 'app_reader' }]);
      expect(await index.matchToken(PW.readerCurrent)).toEqual([{ credential: 'app-reader', stage: STAGE.previous, versionId: 'v-reader-c', username: 'app_reader' }]);
      expect(fake.reads).toHaveLength(1);
    });

    it('on a miss, catches up on published changes before any refresh, so the answer costs one read and no DescribeSecret', async () => {
      const published: Array<[string, Record<string, string[]>]> = [];
      let s: Setup | undefined;
      s = await ready({
        catchUp: async () => {
          for (const [id, labels] of published.splice(0)) await s?.index.applyLabels(id, labels);
        },
      });
      s.fake.rotate('prod/milvus/app-writer', 'v-writer-9', 'Cu9#tP4@uL7!pM2%nB5^vC8', 'app_writer');
      published.push(['app-writer', s.fake.labels('prod/milvus/app-writer')]);
      expect(await s.index.matchToken('Cu9#tP4@uL7!pM2%nB5^vC8')).toEqual([{ credential: 'app-writer', stage: STAGE.current, versionId: 'v-writer-9', username: 'app_writer' }]);
      expect(s.fake.reads).toEqual(['prod/milvus/app-writer v-writer-9']);
    });

    it('matches a password changed outside the rotator after the refresh on the miss; one never stored costs at most that refresh', async () => {
      const { index, fake, clock } = await ready({ refreshOnMissIntervalMs: 300_000 });
      fake.rotate('prod/milvus/app-writer', 'v-console', 'Hu3#mA6@nC9!oS2%lE5^tW8', 'app_writer'); // a human in the console
      expect(await index.matchToken('Hu3#mA6@nC9!oS2%lE5^tW8')).toEqual([{ credential: 'app-writer', stage: STAGE.current, versionId: 'v-console', username: 'app_writer' }]);
      expect(fake.reads).toHaveLength(3);
      clock.nowMs += 300_000;
      fake.reads.length = 0;
      for (let i = 0; i < 50; i++) expect(await index.matchToken(`Never-Stored-${i}#xyzXYZ123`)).toEqual([]);
      // Fifty unmatched alerts: one refresh, one DescribeSecret per credential, no value read.
      expect(fake.reads.sort()).toEqual(['prod/milvus/app-reader describe', 'prod/milvus/app-writer describe']);
    });

    it('hands the labels it reads to onLabels (the wiring publishes them to the fleet)', async () => {
      const seen: string[] = [];
      const s = setup({ onLabels: (id, labels) => void seen.push(`${id} ${Object.keys(labels).sort().join(',')}`) });
      await s.index.refresh();
      expect(seen.sort()).toEqual(['app-reader v-reader-c,v-reader-p,v-reader-v', 'app-writer v-writer-c']);
    });

    it('a paced refresh spaces its calls at readsPerSecond, and a miss during it lifts the pacing', async () => {
      const waits: number[] = [];
      const s = setup({
        readsPerSecond: 10,
        sleep: (ms) => {
          waits.push(ms);
          return new Promise(() => {}); // a clock that never moves: only the miss can release the load
        },
        concurrency: 1,
      });
      const load = s.index.refresh({ paced: true });
      await new Promise((resolve) => setTimeout(resolve, 20));
      // app-reader: its DescribeSecret went at once; its three values wait their turns, 100 ms apart.
      expect(s.fake.reads).toEqual(['prod/milvus/app-reader describe']);
      expect(waits.map((ms) => Math.round(ms / 100))).toEqual([1, 2, 3]);
      const miss = s.index.matchToken(PW.writerCurrent);
      await load;
      expect(await miss).toEqual([{ credential: 'app-writer', stage: STAGE.current, versionId: 'v-writer-c', username: 'app_writer' }]);
      expect(waits).toHaveLength(3);
      expect(s.fake.reads).toHaveLength(2 + 4);
    });
  });

  describe('refresh', () => {
    it('reports a failing credential, indexes the others, and keeps the failing one\'s previous entries', async () => {
      const { index, fake } = await ready();
      fake.failing.add('prod/milvus/app-reader');
      fake.label('prod/milvus/app-writer', STAGE.pending, 'v-writer-p', 'Wp5?sD8=fG1+hJ4*kL7~zX0', 'app_writer');

      const report = await index.refresh();

      expect(report.credentials).toBe(2);
      expect(report.loaded).toBe(1);
      expect(report.failed.map((failure) => failure.credential)).toEqual(['app-reader']);
      expect(report.failed[0]?.error).toBeInstanceOf(Error);
      expect(await index.matchToken('Wp5?sD8=fG1+hJ4*kL7~zX0')).toHaveLength(1);
      expect(await index.matchToken(PW.readerCurrent)).toEqual([{ credential: 'app-reader', stage: STAGE.current, versionId: 'v-reader-c', username: 'app_reader' }]);
    });

    it('reports a version whose value is not a credential secret and indexes the rest', async () => {
      const s = setup();
      s.fake.labelRaw('prod/milvus/app-reader', STAGE.pending, 'v-garbage', 'not json at all');
      const report = await s.index.refresh();
      expect(report.unparseable).toEqual([{ credential: 'app-reader', stage: STAGE.pending, versionId: 'v-garbage' }]);
      expect(await s.index.matchToken(PW.readerCurrent)).toHaveLength(1);
    });

    it('loads at most `concurrency` credentials at once', async () => {
      const fake = fakeStore();
      const credentials = Object.fromEntries(
        Array.from({ length: 30 }, (_, i) => {
          const id = `cred-${i}`;
          fake.label(`s/${id}`, STAGE.current, `v-${i}`, `Pw${i}#abcdefghijklmnop`);
          return [id, { id, secretId: `s/${id}` }];
        }),
      );
      const index = new FingerprintIndex({ store: fake.store, credentials, concurrency: 8 });
      const report = await index.refresh();
      expect(report).toMatchObject({ credentials: 30, loaded: 30, failed: [] });
      expect(fake.maxConcurrentSecrets()).toBe(8);
      expect(index.size()).toBe(60);
    });

    it('exposes size and the time of the last full refresh', async () => {
      const s = setup();
      expect(s.index.size()).toBe(0);
      expect(s.index.lastRefreshAt).toBeNull();
      await s.index.refresh();
      // app-reader: 3 versions x 2 fingerprints; app-writer: 1 x 2.
      expect(s.index.size()).toBe(8);
      expect(s.index.lastRefreshAt).toEqual(new Date(s.clock.nowMs));
    });
  });

  describe('what the index holds', () => {
    it('holds no password and no plain sha256 of one, in any form inspection can reach', async () => {
      const { index } = await ready();
      const views = [
        inspect(index, { depth: Infinity, showHidden: true, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: Infinity }),
        JSON.stringify(index),
      ];
      // The inspection really reaches the entries: the version ids are there.
      expect(views[0]).toContain('v-reader-p');
      expect(views[0]).toContain('v-writer-c');

      const passwords = Object.values(PW);
      expect(findExposures(views, passwords, ['app_reader', 'app_writer'])).toEqual([]);
      const users = { [PW.writerCurrent]: 'app_writer' } as Record<string, string>;
      for (const password of passwords) {
        const user = users[password] ?? 'app_reader';
        for (const hex of [sha256Hex(password), sha256Hex(`${user}:${password}`)]) {
          for (const view of views) {
            expect(view).not.toContain(hex);
            expect(view).not.toContain(Buffer.from(hex, 'hex').toString('base64url'));
            expect(view).not.toContain(Buffer.from(hex, 'hex').toString('base64'));
          }
        }
      }
    });

    it('keys its fingerprints per process: two indexes over the same store share no fingerprint', async () => {
      const a = await ready();
      const b = await ready();
      const fingerprintsOf = (index: FingerprintIndex): string[] =>
        [...inspect(index, { depth: Infinity }).matchAll(/'([A-Za-z0-9_-]{43})'/g)].map((m) => m[1] ?? '');
      const fromA = fingerprintsOf(a.index);
      expect(fromA.length).toBeGreaterThanOrEqual(8);
      expect(fingerprintsOf(b.index).filter((fingerprint) => fromA.includes(fingerprint))).toEqual([]);
    });
  });
});
