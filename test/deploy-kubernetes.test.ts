/**
 * The Kubernetes manifests (k8s/base, k8s/overlays/example, k8s/dev, deploy/prometheus) as the
 * cluster would receive them:
 * - rendered by real kustomize (kubectl's built-in kustomize, in this machine image; or a
 *   `kustomize` binary), never by a loader of our own;
 * - validated against the Kubernetes OpenAPI schemas (and the prometheus-operator CRD schemas)
 *   through kubernetes-models, whose validators are compiled from those schemas;
 * - type-checked against kubernetes-models' generated types with the TypeScript compiler, whose
 *   excess-property check refuses any field the API does not define (the OpenAPI schemas alone
 *   allow unknown fields, which the API server would silently drop);
 * - run as commands the CLI really has, with a config the CLI really accepts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Service } from 'kubernetes-models/v1/Service';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { buildProgram } from '../src/cli.ts';
import { SHUTDOWN_CLOSE_SLACK_MS, shutdownBoundMs } from '../src/cli/worker-command.ts';
import { parseConfig } from '../src/config/load.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'src', 'cli.ts');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [key: string]: unknown };

interface ModelEntry {
  /** The model class: `new Model(data).validate()` runs the schema validator. */
  model: { new (data: never): { validate(): void } };
  /** Module and interface name of its generated type, for the excess-property check. */
  typeModule: string;
  typeName: string;
}

/** Every kind the repository ships, with its schema. A kind missing here fails the test. */
const MODELS: Record<string, ModelEntry> = {
  'v1/Namespace': { model: Namespace, typeModule: 'kubernetes-models/v1/Namespace', typeName: 'INamespace' },
  'v1/ServiceAccount': { model: ServiceAccount, typeModule: 'kubernetes-models/v1/ServiceAccount', typeName: 'IServiceAccount' },
  'v1/Service': { model: Service, typeModule: 'kubernetes-models/v1/Service', typeName: 'IService' },
  'v1/ConfigMap': { model: ConfigMap, typeModule: 'kubernetes-models/v1/ConfigMap', typeName: 'IConfigMap' },
  'v1/Secret': { model: Secret, typeModule: 'kubernetes-models/v1/Secret', typeName: 'ISecret' },
  'apps/v1/Deployment': { model: Deployment, typeModule: 'kubernetes-models/apps/v1/Deployment', typeName: 'IDeployment' },
  'batch/v1/CronJob': { model: CronJob, typeModule: 'kubernetes-models/batch/v1/CronJob', typeName: 'ICronJob' },
  'batch/v1/Job': { model: Job, typeModule: 'kubernetes-models/batch/v1/Job', typeName: 'IJob' },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, typeModule: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', typeName: 'INetworkPolicy' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, typeModule: 'kubernetes-models/policy/v1/PodDisruptionBudget', typeName: 'IPodDisruptionBudget' },
  'monitoring.coreos.com/v1/PrometheusRule': {
    model: PrometheusRule,
    typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    typeName: 'IPrometheusRule',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    typeName: 'IServiceMonitor',
  },
};

const modelKey = (m: Manifest): string => `${m.apiVersion}/${m.kind}`;
const ref = (m: Manifest): string => `${m.kind}/${m.metadata.name}`;

/** Renders a kustomization with real kustomize: `kustomize build`, else `kubectl kustomize`. */
function kustomize(dir: string): Manifest[] {
  const attempts: Array<[string, string[]]> = [
    ['kustomize', ['build', dir]],
    ['kubectl', ['kustomize', dir]],
  ];
  const failures: string[] = [];
  for (const [bin, args] of attempts) {
    const run = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8' });
    if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') {
      failures.push(`${bin}: not installed`);
      continue;
    }
    if (run.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed:\n${run.stderr}`);
    return parseManifests(run.stdout);
  }
  throw new Error(`no kustomize renderer (${failures.join('; ')}); kubectl (with built-in kustomize) is part of this machine image`);
}

function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

function readManifests(file: string): Manifest[] {
  return parseManifests(readFileSync(join(ROOT, file), 'utf8'));
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: unknown } }>;
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  lifecycle?: { preStop?: unknown };
}
interface PodSpec {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  restartPolicy?: string;
  volumes?: Array<{ name: string; emptyDir?: unknown; configMap?: { name: string } }>;
}

/** The pod template of a workload (Deployment, Job, CronJob), or undefined. */
function podSpec(m: Manifest): PodSpec | undefined {
  const spec = m.spec as Record<string, any> | undefined;
  switch (m.kind) {
    case 'Deployment':
    case 'Job':
      return spec?.template?.spec as PodSpec;
    case 'CronJob':
      return spec?.jobTemplate?.spec?.template?.spec as PodSpec;
    default:
      return undefined;
  }
}

const workloads = (ms: Manifest[]): Manifest[] => ms.filter((m) => podSpec(m) !== undefined);
const find = (ms: Manifest[], kind: string, predicate: (m: Manifest) => boolean = () => true): Manifest => {
  const found = ms.filter((m) => m.kind === kind && predicate(m));
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0]!;
};

/**
 * Type-checks manifests as object literals of their generated Kubernetes types. Returns one line
 * per diagnostic (unknown field, wrong type, value outside an enum), naming the manifest.
 */
function typeCheck(manifests: Manifest[]): string[] {
  const virtualPath = join(ROOT, 'test', '__deploy_manifests_typecheck__.ts');
  const imports = new Map<string, string>();
  const lines: string[] = [];
  manifests.forEach((m, i) => {
    const entry = MODELS[modelKey(m)]!;
    const alias = `T${imports.size}`;
    if (!imports.has(entry.typeModule)) imports.set(entry.typeModule, alias);
    lines.push(`// ${ref(m)}\nexport const m${i}: ${imports.get(entry.typeModule)}.${entry.typeName} = ${JSON.stringify(m, null, 2)};`);
  });
  const source = [...[...imports].map(([module, alias]) => `import type * as ${alias} from '${module}';`), ...lines].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const original = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
  host.getSourceFile = (fileName, languageVersion, ...rest) =>
    resolve(fileName) === virtualPath ? ts.createSourceFile(fileName, source, languageVersion, true) : original.getSourceFile(fileName, languageVersion, ...rest);
  host.fileExists = (fileName) => resolve(fileName) === virtualPath || original.fileExists(fileName);
  host.readFile = (fileName) => (resolve(fileName) === virtualPath ? source : original.readFile(fileName));
  const program = ts.createProgram([virtualPath], options, host);
  const file = program.getSourceFile(virtualPath)!;
  return [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) => {
    const { line } = d.start === undefined ? { line: 0 } : file.getLineAndCharacterOfPosition(d.start);
    const owner = source.split('\n').slice(0, line + 1).reverse().find((l) => l.startsWith('// ')) ?? '';
    return `${owner.slice(3)}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

/** `node src/cli.ts <args>` on this Node (24), with a clean environment plus `env`. */
function runCli(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env },
    timeout: 30_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

let base: Manifest[];
let overlay: Manifest[];
let dev: Manifest[];
let monitoring: Manifest[];
let scratch: string;

beforeAll(() => {
  base = kustomize('k8s/base');
  overlay = kustomize('k8s/overlays/example');
  dev = kustomize('k8s/dev');
  monitoring = readdirSync(join(ROOT, 'deploy', 'prometheus'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => readManifests(join('deploy', 'prometheus', f)));
  scratch = mkdtempSync(join(tmpdir(), 'deploy-k8s-'));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('rendered manifests', () => {
  it('kustomize renders the base with every resource issue 6 asks for', () => {
    const kinds = base.map((m) => m.kind).sort();
    expect(kinds).toEqual(['ConfigMap', 'CronJob', 'Deployment', 'Job', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
  });

  it('the example overlay renders the base plus its namespace, and puts every namespaced object in it', () => {
    const withoutConfigMap = (ms: Manifest[]) => ms.filter((m) => m.kind !== 'ConfigMap').map(ref).sort();
    expect(withoutConfigMap(overlay)).toEqual([...withoutConfigMap(base), 'Namespace/milvus-rotator'].sort());
    expect(overlay.filter((m) => m.kind === 'ConfigMap')).toHaveLength(1);
    for (const m of overlay.filter((m) => m.kind !== 'Namespace')) expect(m.metadata.namespace, ref(m)).toBe('milvus-rotator');
  });

  it('every manifest of the base, the overlay, the dev Redis and deploy/prometheus validates against its Kubernetes OpenAPI (or CRD) schema', () => {
    const all = [...base, ...overlay, ...dev, ...monitoring];
    expect(all.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const m of all) {
      const entry = MODELS[modelKey(m)];
      if (!entry) {
        problems.push(`${ref(m)}: no schema known for ${modelKey(m)}`);
        continue;
      }
      try {
        new entry.model(m as never).validate();
      } catch (err) {
        problems.push(`${ref(m)}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the schema validator refuses a broken manifest (the check can fail)', () => {
    const deployment = structuredClone(find(base, 'Deployment'));
    (deployment.spec as any).replicas = 'two';
    delete (deployment.spec as any).selector;
    expect(() => new Deployment(deployment as never).validate()).toThrow(/replicas|selector/);
  });

  it('no manifest has a field the Kubernetes API does not define, or a value outside its enum (TypeScript excess-property check)', () => {
    const problems = typeCheck([...base, ...overlay, ...dev, ...monitoring]);
    expect(problems).toEqual([]);
  }, 60_000);

  it('the type check names a misspelt field (the check can fail)', () => {
    const cronJob = structuredClone(find(base, 'CronJob'));
    (cronJob.spec as any).concurrencyPolicy = 'Never';
    (cronJob.spec as any).jobTemplate.spec.backofLimit = 2;
    const problems = typeCheck([cronJob]).join('\n');
    expect(problems).toMatch(/backofLimit/);
    expect(problems).toMatch(/"Never"/);
  }, 60_000);
});

describe('the worker Deployment', () => {
  const deployment = (): Manifest => find(base, 'Deployment');

  it('runs 2 replicas with liveness on /healthz and readiness on /readyz, on the port named http', () => {
    const d = deployment();
    expect((d.spec as any).replicas).toBe(2);
    const [worker] = podSpec(d)!.containers;
    expect(worker!.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(worker!.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(worker!.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
  });

  it("gives a stopping worker more time than its shutdown takes with the ConfigMap's drainDelayMs and shutdownTimeoutMs, and has no preStop sleep adding to the drain", () => {
    const env = { REDIS_URL: 'redis://127.0.0.1:6379', ROTATOR_TRIGGER_TOKEN: 'test-trigger-token-0123456789', ROTATOR_WEBHOOK_SECRET: 'test-webhook-secret-0123456789' };
    for (const [name, manifests] of [['base', base], ['overlay', overlay]] as const) {
      const d = find(manifests, 'Deployment');
      const spec = podSpec(d)!;
      const [worker] = spec.containers;
      // The drain delay is in the process (the listener stays open after SIGTERM): a preStop
      // sleep would delay SIGTERM by its own length on top, with /readyz still 200 meanwhile.
      expect(worker!.lifecycle?.preStop, `${name}: preStop`).toBeUndefined();
      const config = parseConfig(String((find(manifests, 'ConfigMap').data as Record<string, string>)['rotator.yaml']), env);
      const boundMs = shutdownBoundMs(config.worker);
      expect(boundMs, `${name}: the bound counts the drain delay`).toBeGreaterThanOrEqual(config.worker.drainDelayMs + SHUTDOWN_CLOSE_SLACK_MS);
      expect(boundMs, `${name}: the bound counts the rotations' time`).toBeGreaterThanOrEqual(config.worker.shutdownTimeoutMs + SHUTDOWN_CLOSE_SLACK_MS);
      // The kubelet SIGKILLs at the end of the grace period: the worker's own bound must come first, with room to spare.
      expect(spec.terminationGracePeriodSeconds! * 1000, `${name}: terminationGracePeriodSeconds vs ${boundMs} ms`).toBeGreaterThanOrEqual(boundMs + 5_000);
    }
    // The check can fail: a drain delay the grace period does not cover.
    expect(shutdownBoundMs({ drainDelayMs: 60_000, shutdownTimeoutMs: 25_000 })).toBeGreaterThan(podSpec(deployment())!.terminationGracePeriodSeconds! * 1000);
  });

  it('serves HTTP on the port the config file sets, and the Service, PDB and probes reach that port', () => {
    const d = deployment();
    const [worker] = podSpec(d)!.containers;
    for (const manifests of [base, overlay]) {
      const config = parse(String((find(manifests, 'ConfigMap').data as Record<string, string>)['rotator.yaml'])) as { http: { port: number } };
      expect(worker!.ports).toEqual([{ name: 'http', containerPort: config.http.port, protocol: 'TCP' }]);
    }
    const service = find(base, 'Service');
    expect((service.spec as any).ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    const selector = (service.spec as any).selector as Record<string, string>;
    const podLabels = (d.spec as any).template.metadata.labels as Record<string, string>;
    expect(podLabels).toMatchObject(selector);
    expect(podLabels).toMatchObject((find(base, 'PodDisruptionBudget').spec as any).selector.matchLabels);
    expect((find(base, 'PodDisruptionBudget').spec as any).minAvailable).toBe(1);
  });
});

describe('pod security', () => {
  it('every pod and container runs non-root, read-only, without privilege escalation or capabilities, under seccomp RuntimeDefault', () => {
    for (const manifests of [base, overlay]) {
      for (const w of workloads(manifests)) {
        const pod = podSpec(w)!;
        expect(pod.securityContext, ref(w)).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
        expect(pod.automountServiceAccountToken, ref(w)).toBe(false);
        expect(pod.serviceAccountName, ref(w)).toBe('milvus-rotator');
        for (const c of pod.containers) {
          expect(c.securityContext, `${ref(w)} ${c.name}`).toMatchObject({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          });
          expect(c.securityContext?.privileged ?? false).toBe(false);
          expect(Object.keys(c.resources?.requests ?? {}).sort(), `${ref(w)} requests`).toEqual(['cpu', 'memory']);
          expect(Object.keys(c.resources?.limits ?? {}).sort(), `${ref(w)} limits`).toEqual(['cpu', 'memory']);
        }
      }
    }
  });

  it('every container writes only to an emptyDir at /tmp, and reads the config from the ConfigMap at ROTATOR_CONFIG', () => {
    for (const w of workloads(overlay)) {
      const pod = podSpec(w)!;
      const configMap = find(overlay, 'ConfigMap');
      expect(pod.volumes).toEqual(
        expect.arrayContaining([
          { name: 'tmp', emptyDir: expect.anything() },
          { name: 'config', configMap: { name: configMap.metadata.name } },
        ]),
      );
      for (const c of pod.containers) {
        expect(c.volumeMounts).toEqual(
          expect.arrayContaining([
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'config', mountPath: '/etc/milvus-rotator', readOnly: true },
          ]),
        );
        const writable = (c.volumeMounts ?? []).filter((v) => !v.readOnly).map((v) => v.mountPath);
        expect(writable, ref(w)).toEqual(['/tmp']);
        expect(c.env?.find((e) => e.name === 'ROTATOR_CONFIG')?.value).toBe(`/etc/milvus-rotator/${Object.keys(configMap.data as object)[0]}`);
      }
    }
  });

  it('the ServiceAccount carries the IRSA role annotation, and the overlay sets its own role', () => {
    const roleOf = (ms: Manifest[]) => find(ms, 'ServiceAccount').metadata.annotations?.['eks.amazonaws.com/role-arn'];
    expect(roleOf(base)).toMatch(/^arn:aws:iam::\d{12}:role\/.+/);
    expect(roleOf(overlay)).toMatch(/^arn:aws:iam::\d{12}:role\/.+/);
    expect(roleOf(overlay)).not.toBe(roleOf(base));
  });

  it('images are pinned (a version tag or a digest, never latest or untagged)', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const manifests of [base, overlay]) {
      for (const w of workloads(manifests)) {
        for (const c of podSpec(w)!.containers) {
          expect(c.image, ref(w)).toMatch(new RegExp(`(:${version.replaceAll('.', '\\.')}|@sha256:[0-9a-f]{64})$`));
        }
      }
    }
    for (const w of workloads(dev)) for (const c of podSpec(w)!.containers) expect(c.image).toMatch(/:\d+\.\d+\.\d+[-\w.]*$/);
  });
});

describe('secrets', () => {
  it('no secret value is in the ConfigMap: the trigger token, webhook secret and Redis URL are ${ENV} references', () => {
    for (const manifests of [base, overlay]) {
      const config = parse(String((find(manifests, 'ConfigMap').data as Record<string, string>)['rotator.yaml'])) as Record<string, any>;
      expect(config.redis.url).toBe('${REDIS_URL}');
      for (const token of config.http.triggerTokens as string[]) expect(token).toMatch(/^\$\{[A-Z_]+\}$/);
      expect(config.leakAlerts.webhookSecret).toMatch(/^\$\{[A-Z_]+\}$/);
      for (const secret of config.leakAlerts.webhookSecrets as string[]) expect(secret).toMatch(/^\$\{[A-Z_]+\}$/);
    }
  });

  it('every ${VAR} of the config is set from a secretKeyRef in the worker, and no secret is set as a plain value anywhere', () => {
    for (const manifests of [base, overlay]) {
      // Values only: the file's comments explain the ${VAR} syntax.
      const strings = JSON.stringify(parse(String((find(manifests, 'ConfigMap').data as Record<string, string>)['rotator.yaml'])));
      const variables = [...new Set([...strings.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)].map((m) => m[1]!))].sort();
      expect(variables).toEqual(['REDIS_URL', 'ROTATOR_TRIGGER_TOKEN', 'ROTATOR_TRIGGER_TOKEN_NEXT', 'ROTATOR_WEBHOOK_SECRET', 'ROTATOR_WEBHOOK_SECRET_NEXT']);
      const worker = podSpec(find(manifests, 'Deployment'))!.containers[0]!;
      for (const variable of variables) {
        const env = worker.env?.find((e) => e.name === variable);
        expect(env?.valueFrom?.secretKeyRef?.name, variable).toBe('milvus-rotator');
        expect(env?.value, variable).toBeUndefined();
      }
      for (const w of workloads(manifests)) {
        for (const c of podSpec(w)!.containers) {
          for (const e of c.env ?? []) if (/TOKEN|SECRET|REDIS_URL|PASSWORD/.test(e.name)) expect(e.valueFrom?.secretKeyRef, `${ref(w)} ${e.name}`).toBeDefined();
        }
      }
      expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
    }
  });

  it('the one-shot rotate CronJob gets no trigger token, webhook secret or Redis URL: it needs none', () => {
    const rotate = podSpec(find(base, 'CronJob'))!.containers[0]!;
    expect((rotate.env ?? []).map((e) => e.name).sort()).toEqual(['LOG_LEVEL', 'ROTATOR_CONFIG']);
  });
});

describe('commands', () => {
  /** argv of each container: the image's ENTRYPOINT is the CLI, so `command` must stay unset. */
  const commands = (manifests: Manifest[]): Array<{ where: string; args: string[] }> =>
    workloads(manifests).flatMap((w) =>
      podSpec(w)!.containers.map((c) => {
        expect(c.command, `${ref(w)}: command would replace the image's ENTRYPOINT`).toBeUndefined();
        return { where: ref(w), args: c.args ?? [] };
      }),
    );

  it('the Deployment runs `worker`, the CronJob `rotate --all --json`, the Job `schedules sync`', () => {
    expect(podSpec(find(base, 'Deployment'))!.containers[0]!.args).toEqual(['worker']);
    expect(podSpec(find(base, 'CronJob'))!.containers[0]!.args).toEqual(expect.arrayContaining(['rotate', '--all', '--json']));
    expect(podSpec(find(base, 'Job'))!.containers[0]!.args).toEqual(['schedules', 'sync']);
  });

  /** The (sub)command the leading words of `args` name in the CLI's commander program. */
  const resolveCommand = (args: string[]) => {
    let command = buildProgram({ out: () => {}, err: () => {} }).program;
    const path: string[] = [];
    for (const word of args) {
      const sub = word.startsWith('-') ? undefined : command.commands.find((c) => c.name() === word);
      if (!sub) break;
      command = sub;
      path.push(word);
    }
    return { command, path };
  };

  it('every command and option the manifests run is one the CLI declares (commander program of src/cli.ts)', () => {
    for (const { where, args } of [...commands(base), ...commands(overlay)]) {
      const { command, path } = resolveCommand(args);
      expect(path.length, `${where}: "${args.join(' ')}" names no CLI command`).toBeGreaterThan(0);
      for (const option of args.filter((a) => a.startsWith('--'))) {
        const long = option.split('=')[0];
        expect(command.options.map((o) => o.long), `${where}: ${path.join(' ')} has no option ${long}`).toContain(long);
      }
    }
  });

  it('every command the manifests run answers --help as that command (node src/cli.ts <args> --help)', () => {
    const distinct = new Map([...commands(base), ...commands(overlay)].map((c) => [c.args.join(' '), c]));
    expect(distinct.size).toBeGreaterThanOrEqual(3);
    for (const { where, args } of distinct.values()) {
      const run = runCli([...args, '--help']);
      const { path } = resolveCommand(args);
      expect(path.length, `${where}: "${args.join(' ')}" names no CLI command`).toBeGreaterThan(0);
      expect(run.status, `${where}: ${args.join(' ')} --help\n${run.stdout}${run.stderr}`).toBe(0);
      // commander answers an unknown command with the top-level help: require this command's.
      expect(run.stdout, where).toMatch(new RegExp(`^Usage: milvus-rotator ${path.join(' ')} \\[options\\]`, 'm'));
    }
  }, 90_000);
});

describe('jobs', () => {
  it('the rotate CronJob never overlaps itself and is bounded in retries and time', () => {
    const cronJob = find(base, 'CronJob');
    const spec = cronJob.spec as any;
    expect(spec.concurrencyPolicy).toBe('Forbid');
    expect(spec.jobTemplate.spec.backoffLimit).toBeGreaterThanOrEqual(0);
    expect(spec.jobTemplate.spec.backoffLimit).toBeLessThanOrEqual(3);
    expect(spec.jobTemplate.spec.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.jobTemplate.spec.activeDeadlineSeconds).toBeLessThanOrEqual(3600);
    expect(spec.startingDeadlineSeconds).toBeGreaterThan(0);
    expect(podSpec(cronJob)!.restartPolicy).toBe('Never');
  });

  it('exit codes 1, 2 and 3 (rolled back, config error, needs attention) end the rotate Job instead of rotating everything again', () => {
    const rules = (find(base, 'CronJob').spec as any).jobTemplate.spec.podFailurePolicy.rules as Array<{ action: string; onExitCodes?: { values: number[] } }>;
    expect(rules.find((r) => r.action === 'FailJob')?.onExitCodes?.values).toEqual([1, 2, 3]);
  });

  it('the schedules sync Job is bounded and cleans itself up', () => {
    const spec = find(base, 'Job').spec as any;
    expect(spec.backoffLimit).toBeLessThanOrEqual(5);
    expect(spec.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
  });
});

describe('network policy', () => {
  type Rule = { ports?: Array<{ port: number | string; protocol: string }>; to?: unknown[]; from?: unknown[] };

  it('selects every rotator pod and allows ingress only to the HTTP port', () => {
    const policy = find(base, 'NetworkPolicy');
    const spec = policy.spec as { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: Rule[]; egress: Rule[] };
    expect(spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
    for (const w of workloads(base)) {
      const labels = w.kind === 'CronJob' ? (w.spec as any).jobTemplate.spec.template.metadata.labels : (w.spec as any).template.metadata.labels;
      expect(labels, ref(w)).toMatchObject(spec.podSelector.matchLabels);
    }
    expect(spec.ingress).toHaveLength(1);
    expect(spec.ingress[0]!.ports).toEqual([{ port: 'http', protocol: 'TCP' }]);
  });

  it('allows egress only to Redis 6379, HTTPS 443, Milvus 19530 and DNS 53 (UDP and TCP to kube-dns)', () => {
    for (const manifests of [base, overlay]) {
      const egress = (find(manifests, 'NetworkPolicy').spec as { egress: Rule[] }).egress;
      const ports = egress.flatMap((r) => r.ports ?? []).map((p) => `${p.port}/${p.protocol}`).sort();
      expect(ports).toEqual(['19530/TCP', '443/TCP', '53/TCP', '53/UDP', '6379/TCP']);
      for (const rule of egress) expect(rule.ports?.length, 'a rule without ports would open every port').toBeGreaterThan(0);
      const dns = egress.find((r) => r.ports?.some((p) => p.port === 53));
      expect(dns?.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]);
    }
    const overlayRedis = (find(overlay, 'NetworkPolicy').spec as { egress: Rule[] }).egress.find((r) => r.ports?.some((p) => p.port === 6379));
    expect(overlayRedis?.to).toEqual([{ ipBlock: { cidr: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+\/\d+$/) } }]);
  });
});

describe('config', () => {
  const secretsEnv = {
    REDIS_URL: 'redis://127.0.0.1:6379',
    ROTATOR_TRIGGER_TOKEN: 'test-trigger-token-0123456789',
    ROTATOR_WEBHOOK_SECRET: 'test-webhook-secret-0123456789',
  };

  it('the rotator.yaml of the base and of the overlay pass `config check`', () => {
    for (const [name, manifests] of [['base', base], ['overlay', overlay]] as const) {
      const file = join(scratch, `${name}-rotator.yaml`);
      writeFileSync(file, String((find(manifests, 'ConfigMap').data as Record<string, string>)['rotator.yaml']));
      const run = runCli(['config', 'check', '--config', file], secretsEnv);
      expect(run.status, `${name}: ${run.stdout}${run.stderr}`).toBe(0);
    }
  }, 60_000);

  it('`config check` refuses a broken rotator.yaml (the check can fail)', () => {
    const file = join(scratch, 'broken-rotator.yaml');
    const text = String((find(base, 'ConfigMap').data as Record<string, string>)['rotator.yaml']).replace('clusters: [example]', 'clusters: [nowhere]');
    writeFileSync(file, text);
    expect(runCli(['config', 'check', '--config', file], secretsEnv).status).toBe(2);
  }, 60_000);

  it('the overlay replaces the base config instead of merging a second file into the ConfigMap', () => {
    expect(Object.keys(find(overlay, 'ConfigMap').data as object)).toEqual(['rotator.yaml']);
    expect((find(overlay, 'ConfigMap').data as Record<string, string>)['rotator.yaml']).toBe(readFileSync(join(ROOT, 'k8s/overlays/example/rotator.yaml'), 'utf8'));
  });
});

describe('the development Redis', () => {
  it('is kept apart from the base and the overlay', () => {
    for (const manifests of [base, overlay]) expect(manifests.filter((m) => m.metadata.name.includes('redis'))).toEqual([]);
    expect(dev.map(ref).sort()).toEqual(['Deployment/milvus-rotator-redis', 'NetworkPolicy/milvus-rotator-redis', 'Service/milvus-rotator-redis']);
  });

  it('runs with maxmemory-policy noeviction, as BullMQ requires', () => {
    const args = podSpec(find(dev, 'Deployment'))!.containers[0]!.args!.join(' ');
    expect(args).toContain('--maxmemory-policy noeviction');
  });
});

// Guard: the rendering really went through kustomize (a hashed ConfigMap name is kustomize's).
it('kustomize generated the ConfigMap with a content hash, and every workload mounts that name', () => {
  for (const manifests of [base, overlay]) {
    const name = find(manifests, 'ConfigMap').metadata.name;
    expect(name).toMatch(/^milvus-rotator-config-[a-z0-9]{10}$/);
    for (const w of workloads(manifests)) expect(podSpec(w)!.volumes?.find((v) => v.name === 'config')?.configMap?.name).toBe(name);
  }
});
