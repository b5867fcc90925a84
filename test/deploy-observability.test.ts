/**
 * The PrometheusRule (deploy/prometheus/rules.yaml) and the Grafana dashboard
 * (deploy/grafana/dashboard.json) against the metrics the code really exports: the names come from
 * the registry of `new RotatorMetrics()` (its `/metrics` text: `# TYPE` lines, histograms expanded
 * to _bucket/_sum/_count), never from a list written here. Every expression is parsed with
 * Prometheus' own PromQL grammar (@prometheus-io/lezer-promql); its metric names and label matchers
 * are read from the syntax tree.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { METRIC, RotatorMetrics } from '../src/observability/metrics.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Labels Prometheus adds when it scrapes a pod (target labels), valid on every series. */
const TARGET_LABELS = new Set(['namespace', 'pod', 'container', 'job', 'instance', 'service', 'endpoint']);

interface Exported {
  /** Every series name the registry can produce, with the labels each may carry. */
  series: Map<string, Set<string>>;
}

/** Reads the exported series names from the registry's exposition text (what GET /metrics serves). */
async function exportedSeries(): Promise<Exported> {
  const metrics = new RotatorMetrics();
  const text = await metrics.registry.metrics();
  const series = new Map<string, Set<string>>();
  for (const match of text.matchAll(/^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    const instance = metrics.registry.getSingleMetric(name) as unknown as { labelNames?: string[] } | undefined;
    const labels = new Set(instance?.labelNames ?? []);
    if (type === 'histogram') {
      series.set(`${name}_bucket`, new Set([...labels, 'le']));
      series.set(`${name}_sum`, labels);
      series.set(`${name}_count`, labels);
    } else if (type === 'summary') {
      series.set(name, new Set([...labels, 'quantile']));
      series.set(`${name}_sum`, labels);
      series.set(`${name}_count`, labels);
    } else {
      series.set(name, labels);
    }
  }
  return { series };
}

interface Selector {
  metric: string;
  labels: string[];
}

/** Parses a PromQL expression: syntax errors, and every vector selector's metric and label names. */
function analyse(expr: string): { errors: string[]; selectors: Selector[] } {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  const selectors: Selector[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) errors.push(`syntax error at ${cursor.from}: ${JSON.stringify(expr.slice(Math.max(0, cursor.from - 20), cursor.to + 20))}`);
    if (cursor.name === 'VectorSelector') {
      const node = cursor.node;
      const identifier = node.getChild('Identifier');
      const labels: string[] = [];
      const matchers = node.getChild('LabelMatchers');
      for (const matcher of matchers?.getChildren('UnquotedLabelMatcher') ?? []) {
        const name = matcher.getChild('LabelName');
        if (name) labels.push(expr.slice(name.from, name.to));
      }
      selectors.push({ metric: identifier ? expr.slice(identifier.from, identifier.to) : '', labels });
    }
  } while (cursor.next());
  return { errors, selectors };
}

/** Problems of one expression against the exported series; empty when it is fine. */
function check(where: string, expr: string, exported: Exported): string[] {
  const { errors, selectors } = analyse(expr);
  const problems = errors.map((e) => `${where}: ${e}`);
  if (selectors.length === 0) problems.push(`${where}: selects no metric`);
  for (const { metric, labels } of selectors) {
    const known = exported.series.get(metric);
    if (!known) {
      problems.push(`${where}: metric ${metric || '(none)'} is not exported`);
      continue;
    }
    for (const label of labels) if (!known.has(label) && !TARGET_LABELS.has(label)) problems.push(`${where}: ${metric} has no label ${label}`);
  }
  return problems;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const RULES = parse(readFileSync(join(ROOT, 'deploy/prometheus/rules.yaml'), 'utf8')) as { kind: string; spec: { groups: Array<{ name: string; rules: Rule[] }> } };
const ALERTS = RULES.spec.groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => r.alert !== undefined);
const alert = (name: string): Rule => {
  const found = ALERTS.find((a) => a.alert === name);
  expect(found, `alert ${name}`).toBeDefined();
  return found!;
};
const metricsOf = (expr: string): string[] => analyse(expr).selectors.map((s) => s.metric);

interface Panel {
  type: string;
  title: string;
  id: number;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; refId: string }>;
}
const DASHBOARD = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/dashboard.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: string | { query: string } }> };
};

/** Grafana expands these before Prometheus sees the query: give them values of the right kind. */
function expandGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m').replace(/\$\{?(\w+)(?::\w+)?\}?/g, '.*');
}

let exported: Exported;
beforeAll(async () => {
  exported = await exportedSeries();
});

describe('the exported metrics', () => {
  it('include every METRIC name, histograms as _bucket/_sum/_count, and the prefixed default metrics', () => {
    for (const name of Object.values(METRIC)) {
      const histogram = exported.series.has(`${name}_bucket`);
      expect(exported.series.has(name) || histogram, name).toBe(true);
    }
    expect(exported.series.has('milvus_rotator_leak_revocation_seconds_bucket')).toBe(true);
    expect(exported.series.get('milvus_rotator_rotations_total')).toEqual(new Set(['outcome', 'reason', 'mode']));
    expect(exported.series.has('milvus_rotator_process_start_time_seconds')).toBe(true);
  });

  it('the checker refuses an unknown metric, an unknown label and a syntax error (it can fail)', () => {
    expect(check('t', 'rate(milvus_rotator_rotation_total[5m])', exported)).toEqual(['t: metric milvus_rotator_rotation_total is not exported']);
    expect(check('t', 'milvus_rotator_needs_attention{cluster="a"}', exported)).toEqual(['t: milvus_rotator_needs_attention has no label cluster']);
    expect(check('t', 'sum by (credential (milvus_rotator_needs_attention)', exported).length).toBeGreaterThan(0);
  });
});

describe('the PrometheusRule', () => {
  it('is a monitoring.coreos.com/v1 PrometheusRule', () => {
    expect(RULES.kind).toBe('PrometheusRule');
    expect(ALERTS.length).toBeGreaterThanOrEqual(6);
  });

  it('every expression parses as PromQL and references only exported metrics and their labels', () => {
    const problems = RULES.spec.groups.flatMap((g) => g.rules.flatMap((r) => check(r.alert ?? r.record ?? '?', r.expr, exported)));
    expect(problems).toEqual([]);
  });

  it('alerts when a rotation failed or rolled back', () => {
    const rule = alert('MilvusRotatorRotationFailed');
    expect(metricsOf(rule.expr)).toContain(METRIC.rotations);
    expect(rule.expr).toMatch(/outcome=~"failed\|rolled_back"/);
  });

  it('alerts when a credential needs attention', () => {
    expect(metricsOf(alert('MilvusRotatorNeedsAttention').expr)).toEqual([METRIC.needsAttention]);
    expect(alert('MilvusRotatorNeedsAttention').labels?.severity).toBe('critical');
  });

  it('alerts when a credential is older than its maximum age (credential_age > credential_max_age)', () => {
    const rule = alert('MilvusRotatorCredentialTooOld');
    expect(metricsOf(rule.expr)).toEqual([METRIC.credentialAge, METRIC.credentialMaxAge]);
    expect(rule.expr).toMatch(/>\s*on \(namespace, credential\)/);
  });

  it('alerts when a pending version is older than a bound above the 10-minute pending lease', () => {
    const rule = alert('MilvusRotatorPendingVersionStale');
    expect(metricsOf(rule.expr)).toEqual([METRIC.pendingAge]);
    expect(Number(/>\s*(\d+)/.exec(rule.expr)?.[1])).toBeGreaterThan(600);
  });

  it('alerts when leak revocation is slower than its bound (a histogram quantile over leak_revocation_seconds)', () => {
    const rule = alert('MilvusRotatorLeakRevocationSlow');
    expect(rule.expr).toMatch(/histogram_quantile\(0\.99/);
    expect(metricsOf(rule.expr)).toEqual([`${METRIC.leakRevocation}_bucket`]);
    expect(Number(/>\s*([\d.]+)\s*$/.exec(rule.expr.trim())?.[1])).toBe(1);
  });

  it('alerts when the scheduler is silent (next run earlier than now minus a slack)', () => {
    const rule = alert('MilvusRotatorSchedulerSilent');
    expect(metricsOf(rule.expr)).toEqual([METRIC.schedulerNextRun]);
    expect(rule.expr).toMatch(/< time\(\) - \d+/);
  });

  it('every alert has a severity, a summary and a runbook section that exists in docs/operations.md', () => {
    const runbook = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    // GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
    const anchors = new Set(
      [...runbook.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
        m[1]!
          .toLowerCase()
          .replace(/[^\p{L}\p{N} _-]/gu, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const rule of ALERTS) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      const [file, anchor] = (rule.annotations?.runbook ?? '').split('#');
      expect(file, rule.alert).toBe('docs/operations.md');
      expect(anchors, `${rule.alert}: #${anchor}`).toContain(anchor);
    }
  });
});

describe('the Grafana dashboard', () => {
  const queries = (): Array<{ where: string; expr: string }> => [
    ...DASHBOARD.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr }))),
    ...DASHBOARD.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({ where: `variable ${v.name}`, expr: /label_values\((.+), \w+\)$/.exec(typeof v.query === 'string' ? v.query : v.query!.query)![1]! })),
  ];

  it('every query parses as PromQL and references only exported metrics and their labels', () => {
    const all = queries();
    expect(all.length).toBeGreaterThan(20);
    const problems = all.flatMap(({ where, expr }) => check(where, expandGrafanaVariables(expr), exported));
    expect(problems).toEqual([]);
  });

  it('shows rotations by outcome and reason, duration quantiles, age vs max age, needs attention, pending age, leaks, queue depth, Secrets Manager calls, and the alternating users and grace', () => {
    const used = new Set(queries().flatMap(({ expr }) => metricsOf(expandGrafanaVariables(expr))));
    for (const name of [
      METRIC.rotations,
      `${METRIC.rotationDuration}_bucket`,
      METRIC.credentialAge,
      METRIC.credentialMaxAge,
      METRIC.needsAttention,
      METRIC.pendingAge,
      METRIC.leakAlerts,
      `${METRIC.leakRevocation}_bucket`,
      METRIC.queueJobs,
      METRIC.secretsManagerCalls,
      METRIC.schedulerNextRun,
      METRIC.alternatingActiveUser,
      METRIC.alternatingGraceEnd,
    ])
      expect(used, name).toContain(name);
    const exprs = queries().map((q) => q.expr);
    expect(exprs.some((e) => /sum by \(outcome\)/.test(e))).toBe(true);
    expect(exprs.some((e) => /sum by \(reason/.test(e))).toBe(true);
    expect(exprs.filter((e) => e.includes(`histogram_quantile(`) && e.includes(METRIC.rotationDuration)).length).toBeGreaterThanOrEqual(3);
  });

  it('has unique panel ids, panels inside the 24-column grid, and a Prometheus data source variable', () => {
    const ids = DASHBOARD.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of DASHBOARD.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    expect(DASHBOARD.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(DASHBOARD.uid).toBe('milvus-rotator');
  });
});
