/**
 * milvus-rotator/consumer as an application installs and runs it: the package's subpath export,
 * compiled with the consumer build config into an installed-package layout, imported by name from a
 * separate Node process (hard timeout) that reads a secret from the Secrets Manager emulator and
 * lists collections on the Milvus simulator; its declarations type-check an application under
 * `nodenext`. And the boundaries: the helper imports nothing of the rotator, the rotator nothing of
 * the helper or the SDK, and the SDK is an optional peer plus a pinned devDependency.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { makeConfig } from './helpers/config.ts';
import { findExposures } from './helpers/exposure.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, { types: string; default: string } | string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const SDK = '@zilliz/milvus2-sdk-node';

function importsOf(path: string): string[] {
  return ts.preProcessFile(readFileSync(path, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('the package boundary', () => {
  it('exports ./consumer (types and code from dist/consumer), with the SDK an optional peer and an exact devDependency', () => {
    expect(PACKAGE.exports['./consumer']).toEqual({ types: './dist/consumer/index.d.ts', default: './dist/consumer/index.js' });
    expect(PACKAGE.peerDependenciesMeta[SDK]).toEqual({ optional: true });
    expect(PACKAGE.peerDependencies[SDK]).toBeDefined();
    expect(PACKAGE.dependencies[SDK]).toBeUndefined();
    const installed = (JSON.parse(readFileSync(join(ROOT, 'node_modules', SDK, 'package.json'), 'utf8')) as { version: string }).version;
    expect(PACKAGE.devDependencies[SDK]).toBe(installed);
  });

  it('the helper imports only itself, node builtins, the AWS Secrets Manager client and the SDK', () => {
    const allowed = new Set(['@aws-sdk/client-secrets-manager', SDK]);
    for (const file of filesUnder(join(ROOT, 'src/consumer'))) {
      for (const specifier of importsOf(file)) {
        if (specifier.startsWith('.')) expect(resolve(dirname(file), specifier).startsWith(join(ROOT, 'src/consumer')), `${file}: ${specifier}`).toBe(true);
        else expect(allowed.has(specifier) || specifier.startsWith('node:') || builtinModules.includes(specifier), `${file}: ${specifier}`).toBe(true);
      }
    }
  });

  it('nothing else in src/ imports the helper or the SDK (the worker image has neither), except the shared heartbeat layout', () => {
    const shared = join(ROOT, 'src/consumer/heartbeat-layout.ts');
    expect(importsOf(shared)).toEqual([]);
    for (const file of filesUnder(join(ROOT, 'src')).filter((f) => !f.startsWith(join(ROOT, 'src/consumer')))) {
      for (const specifier of importsOf(file)) {
        expect(specifier.startsWith(SDK), `${file}: ${specifier}`).toBe(false);
        const target = specifier.startsWith('.') ? resolve(dirname(file), specifier) : '';
        if (target !== shared) expect(target.startsWith(join(ROOT, 'src/consumer')), `${file}: ${specifier}`).toBe(false);
      }
    }
  });
});

describe('installed and run by an application', () => {
  let scratch: string;
  let sandbox: Sandbox;
  const node = process.execPath;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'consumer-package-'));
    const installed = join(scratch, 'node_modules', PACKAGE.name);
    mkdirSync(installed, { recursive: true });
    writeFileSync(join(installed, 'package.json'), readFileSync(join(ROOT, 'package.json')));
    const tsc = spawnSync(node, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.consumer.json'), '--outDir', join(installed, 'dist/consumer')], { encoding: 'utf8', timeout: 60_000 });
    if (tsc.status !== 0) throw new Error(`consumer build failed:\n${tsc.stdout}${tsc.stderr}`);
    for (const dep of [SDK, '@aws-sdk/client-secrets-manager', '@types/node']) {
      mkdirSync(dirname(join(scratch, 'node_modules', dep)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', dep), join(scratch, 'node_modules', dep), 'dir');
    }
    sandbox = await startSandbox(makeConfig(['west'], [{ id: 'app', username: 'app_user', clusters: ['west'] }]));
  }, 90_000);

  afterAll(async () => {
    await sandbox?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('type-checks an application importing milvus-rotator/consumer under nodenext (its types resolve: none degrades to any)', () => {
    writeFileSync(
      join(scratch, 'app.ts'),
      "import { createHttpClientConsumer, createMilvusClientConsumer, type ConsumerVersion } from 'milvus-rotator/consumer';\n" +
        "const rest = createHttpClientConsumer({ secretId: 's', client: { endpoint: 'http://127.0.0.1:1' } });\n" +
        "const grpc = createMilvusClientConsumer({ secretId: 's', client: { address: '127.0.0.1:1' } });\n" +
        'const v: ConsumerVersion | undefined = rest.version ?? grpc.version;\n' +
        // Fails to compile if the declarations did not resolve (the types would be any, the directive unused).
        '// @ts-expect-error version is ConsumerVersion | undefined, not a number\nconst n: number = grpc.version;\nexport { v, n };\n',
    );
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['app.ts'] }));
    const check = spawnSync(node, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', scratch], { encoding: 'utf8', timeout: 60_000 });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  }, 60_000);

  it('a separate process imports it by name, reads the secret and calls Milvus through it, and prints no password', async () => {
    const simulator = sandbox.clusters.get('west');
    writeFileSync(
      join(scratch, 'app.mjs'),
      "import { createHttpClientConsumer } from 'milvus-rotator/consumer';\n" +
        `const milvus = createHttpClientConsumer({ secretId: 'test/milvus/app', client: { endpoint: ${JSON.stringify(simulator?.url)} } });\n` +
        'const reply = await milvus.call((client) => client.listCollections());\n' +
        'console.log(JSON.stringify({ code: reply.code, version: milvus.version }));\n' +
        'await milvus.close();\n',
    );
    // Asynchronously: the sandbox answering it runs in this process.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      execFile(node, ['app.mjs'], { cwd: scratch, encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '', HOME: '/tmp', ...sandbox.env } }, (error, stdout, stderr) => {
        done({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      });
    });
    expect(run.status, run.stderr).toBe(0);
    const printed = JSON.parse(run.stdout) as { code: number; version: { secretId: string; stage: string; username: string; versionId: string } };
    expect(printed).toMatchObject({ code: 0, version: { secretId: 'test/milvus/app', stage: 'AWSCURRENT', username: 'app_user' } });
    expect(findExposures([run.stdout, run.stderr], simulator?.passwordsSeen() ?? [], ['app_user'])).toEqual([]);
  }, 40_000);
});
