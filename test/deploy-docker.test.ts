/**
 * The Dockerfile and its build context, checked without a Docker engine (none runs here):
 * - linted by dockerfile-utils, the validator of the Dockerfile language server (hadolint is not
 *   on npm or in Debian bookworm);
 * - its instructions: pinned Node 24 base, a separate production-dependency stage, a numeric
 *   non-root user, the CLI as ENTRYPOINT and `worker` as CMD;
 * - the build context as Docker computes it from .dockerignore (@balena/dockerignore implements
 *   Docker's matching rules): no tests, benchmarks, examples, sandbox data or secrets reach it;
 * - the image's runtime layout rebuilt in a temporary folder (compiled dist/, package.json and only
 *   the production dependencies): the compiled CLI starts and accepts a config there.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type DockerIgnore from '@balena/dockerignore';
import ts from 'typescript';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// A CommonJS module (`module.exports = factory`) whose typings declare an ES default export.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as typeof DockerIgnore.default;
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions (continuation lines joined, comments dropped). */
function instructions(text: string): Instruction[] {
  const result: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (pending === undefined && (line === '' || line.startsWith('#'))) return;
    if (pending !== undefined && line.startsWith('#')) return;
    const body = line.endsWith('\\') ? line.slice(0, -1) : line;
    pending = pending ? { text: `${pending.text} ${body}`, line: pending.line } : { text: body, line: index + 1 };
    if (!line.endsWith('\\')) {
      const match = /^(\S+)\s*(.*)$/.exec(pending.text.trim())!;
      result.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.replace(/\s+/g, ' ').trim(), line: pending.line });
      pending = undefined;
    }
  });
  return result;
}

function stages(text: string): Stage[] {
  const result: Stage[] = [];
  for (const instruction of instructions(text)) {
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      expect(match, `FROM ${instruction.args}`).not.toBeNull();
      result.push({ from: match![1]!, name: match![2] ?? String(result.length), instructions: [] });
    } else {
      expect(result.length, `${instruction.keyword} before the first FROM`).toBeGreaterThan(0);
      result.at(-1)!.instructions.push(instruction);
    }
  }
  return result;
}

const STAGES = stages(DOCKERFILE);
const FINAL = STAGES.at(-1)!;
const of = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.keyword === keyword);

describe('the Dockerfile', () => {
  it('passes the dockerfile-utils linter with every rule at error severity', () => {
    const all = {
      deprecatedMaintainer: ValidationSeverity.ERROR,
      directiveCasing: ValidationSeverity.ERROR,
      emptyContinuationLine: ValidationSeverity.ERROR,
      instructionCasing: ValidationSeverity.ERROR,
      instructionCmdMultiple: ValidationSeverity.ERROR,
      instructionEntrypointMultiple: ValidationSeverity.ERROR,
      instructionHealthcheckMultiple: ValidationSeverity.ERROR,
      instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
      instructionWorkdirRelative: ValidationSeverity.ERROR,
    };
    const problems = validate(DOCKERFILE, all).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
    // The linter can fail: a shell-form CMD in single quotes and a second ENTRYPOINT are reported.
    expect(validate(`${DOCKERFILE}\nENTRYPOINT ['node']\nworkdir app\n`, all).length).toBeGreaterThanOrEqual(3);
  });

  it('builds every stage from the same exact Node 24 release, the one the node devDependency pins', () => {
    expect(STAGES.length).toBeGreaterThanOrEqual(3);
    for (const stage of STAGES) {
      expect(stage.from, stage.name).toMatch(/^node:24\.\d+\.\d+-[a-z]+(-slim)?(@sha256:[0-9a-f]{64})?$/);
      expect(stage.from.split('@')[0]).toBe(`node:${PACKAGE.devDependencies.node}-bookworm-slim`);
    }
  });

  it('installs production dependencies in a stage of their own with npm ci --omit=dev --ignore-scripts', () => {
    const deps = STAGES.filter((s) => of(s, 'RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r.args)));
    expect(deps).toHaveLength(1);
    const run = of(deps[0]!, 'RUN').find((r) => /\bnpm ci\b/.test(r.args))!.args;
    expect(run).toMatch(/--omit=dev/);
    expect(run).toMatch(/--ignore-scripts/);
    expect(of(deps[0]!, 'COPY').map((c) => c.args)).toEqual(['package.json package-lock.json ./']);
    // ... and the final image takes its node_modules from that stage, not from the build stage.
    expect(of(FINAL, 'COPY').map((c) => c.args)).toContain(`--from=${deps[0]!.name} /app/node_modules ./node_modules`);
  });

  it('compiles in a build stage with npm ci and the build config, and checks the compiled CLI starts', () => {
    const build = STAGES.find((s) => of(s, 'RUN').some((r) => r.args.includes('tsconfig.build.json')));
    expect(build).toBeDefined();
    const runs = of(build!, 'RUN').map((r) => r.args).join('\n');
    expect(runs).toMatch(/\bnpm ci\b/);
    expect(runs).toMatch(/node dist\/src\/cli\.js --help/);
    expect(of(FINAL, 'COPY').map((c) => c.args)).toContain(`--from=${build!.name} /app/dist ./dist`);
  });

  it('runs as a numeric non-root user in the final stage', () => {
    const users = of(FINAL, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const [uid, gid] = users.at(-1)!.args.split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(Number(gid)).toBeGreaterThan(0);
    // Nothing runs after USER as root again.
    expect(FINAL.instructions.slice(FINAL.instructions.indexOf(users.at(-1)!)).filter((i) => i.keyword === 'RUN')).toEqual([]);
  });

  it('is ready for a read-only root filesystem: HOME and every writable path are under /tmp', () => {
    const env = of(FINAL, 'ENV').map((e) => e.args).join(' ');
    expect(env).toMatch(/\bHOME=\/tmp\b/);
    expect(of(FINAL, 'VOLUME')).toEqual([]);
  });

  it('starts the CLI as ENTRYPOINT with `worker` as the default command', () => {
    expect(of(FINAL, 'ENTRYPOINT').map((e) => JSON.parse(e.args))).toEqual([['node', 'dist/src/cli.js']]);
    expect(of(FINAL, 'CMD').map((e) => JSON.parse(e.args))).toEqual([['worker']]);
  });

  it('copies into the final image only the compiled code, production node_modules and package.json', () => {
    const copies = of(FINAL, 'COPY').map((c) => c.args);
    expect(copies.sort()).toEqual(
      [`--from=${STAGES.find((s) => of(s, 'RUN').some((r) => r.args.includes('tsconfig.build.json')))!.name} /app/dist ./dist`, expect.stringMatching(/^--from=\S+ \/app\/node_modules \.\/node_modules$/), 'package.json ./'].sort(),
    );
    expect(of(FINAL, 'ADD')).toEqual([]);
  });

  it('passes no secret into any layer (no ARG or ENV that names a token, password or key)', () => {
    for (const stage of STAGES) {
      for (const i of [...of(stage, 'ARG'), ...of(stage, 'ENV')]) expect(i.args, `${stage.name} line ${i.line}`).not.toMatch(/TOKEN|SECRET|PASSWORD|KEY|AWS_/i);
    }
  });
});

describe('the build context (.dockerignore)', () => {
  const ignore = dockerignore({ ignorecase: false }).add(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n'));

  /** Every file Docker would send, walking the work tree like the Docker CLI does. */
  function contextFiles(dir = ROOT): string[] {
    const files: string[] = [];
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = relative(ROOT, join(dir, entry.name));
      if (entry.isDirectory()) {
        // node_modules and .git are huge; their exclusion is asserted below by sample paths.
        if (path === 'node_modules' || path === '.git') continue;
        files.push(...contextFiles(join(dir, entry.name)));
      } else if (!ignore.ignores(path)) {
        files.push(path);
      }
    }
    return files;
  }

  it('sends only package*.json, tsconfig*.json, src/ and jobs/ to the daemon, and no test file among them', () => {
    const files = contextFiles();
    expect(files).toContain('src/cli.ts');
    expect(files).toContain('package-lock.json');
    for (const file of files) {
      expect(file).toMatch(/^(package\.json|package-lock\.json|tsconfig\.json|tsconfig\.build\.json|src\/.+|jobs\/.+)$/);
      expect(file).not.toMatch(/\.test\.ts$|(^|\/)(fixtures|__fixtures__)\//);
    }
  });

  it.each([
    'test/deploy-docker.test.ts',
    'test/helpers/config.ts',
    'src/cli.test.ts',
    'src/sandbox/fixtures/users.json',
    'bench/rotation-latency.ts',
    'examples/sandbox.yaml',
    'examples/rotator.yaml',
    'docs/operations.md',
    'k8s/base/rotator.yaml',
    'deploy/iam/policy.json',
    'rotator.yaml',
    '.env',
    'src/.env.local',
    'tls/client.key',
    'src/ca.pem',
    '.git/config',
    'node_modules/commander/index.js',
    'dist/src/cli.js',
    '.bash_history',
    'Dockerfile',
  ])('keeps %s out of the context', (path) => {
    expect(ignore.ignores(path)).toBe(true);
  });

  it('holds every path the Dockerfile copies from the context', () => {
    const sources = STAGES.flatMap((s) => of(s, 'COPY'))
      .filter((c) => !c.args.startsWith('--from='))
      .flatMap((c) => c.args.replace(/--\S+\s+/g, '').split(' ').slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(ignore.ignores(source.replace(/\/$/, '')), source).toBe(false);
  });
});

describe('the runtime layout of the image, rebuilt without Docker', () => {
  let app: string;
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'deploy-image-'));
    app = join(scratch, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    // The build stage: tsc with the build config, into /app/dist.
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (tsc.status !== 0) throw new Error(`the build stage's tsc failed:\n${tsc.stdout}${tsc.stderr}`);
    writeFileSync(join(app, 'package.json'), readFileSync(join(ROOT, 'package.json')));
    // The deps stage: only packages the lockfile does not mark dev (what `npm ci --omit=dev` keeps).
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    for (const [path, entry] of Object.entries(lock.packages)) {
      const name = path.split('node_modules/').slice(1);
      if (name.length !== 1 || entry.dev) continue;
      const target = join(app, 'node_modules', name[0]!);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(join(ROOT, path), target, 'dir');
    }
  }, 120_000);

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['dist/src/cli.js', ...args], { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: '/tmp', NODE_ENV: 'production', ...env }, timeout: 30_000 });

  it('imports no package that `npm ci --omit=dev` leaves out', () => {
    const allowed = new Set([...Object.keys(PACKAGE.dependencies), ...builtinModules]);
    const imported = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.js')) {
          // TypeScript's own pre-processor lists static imports, re-exports and import() calls.
          for (const { fileName: specifier } of ts.preProcessFile(readFileSync(path, 'utf8'), true, true).importedFiles) {
            if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
            imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
          }
        }
      }
    };
    walk(join(app, 'dist'));
    expect(imported.size).toBeGreaterThan(3);
    expect([...imported].filter((name) => !allowed.has(name))).toEqual([]);
  });

  it('the compiled CLI starts with production dependencies only and lists its commands', () => {
    const help = run(['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: milvus-rotator/m);
    expect(help.stdout).toMatch(/^\s+rotate \[options\]/m);
  }, 60_000);

  it('the compiled CLI accepts the base ConfigMap config (`config check`)', () => {
    const config = join(scratch, 'rotator.yaml');
    writeFileSync(config, readFileSync(join(ROOT, 'k8s/base/rotator.yaml')));
    const check = run(['config', 'check', '--config', config], { ROTATOR_TRIGGER_TOKEN: 'test-trigger-token-0123456789', ROTATOR_WEBHOOK_SECRET: 'test-webhook-secret-0123456789' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  }, 60_000);
});
