/**
 * deploy/iam/policy.json against the code: the Secrets Manager actions it allows are exactly the
 * operations the code sends (every `new <Operation>Command(` of @aws-sdk/client-secrets-manager in
 * src/ and jobs/), on named secrets only; KMS only through Secrets Manager.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as SecretsManager from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  NotAction?: unknown;
  Resource: string | string[];
  NotResource?: unknown;
  Condition?: Record<string, Record<string, string | string[]>>;
}
const POLICY = JSON.parse(readFileSync(join(ROOT, 'deploy/iam/policy.json'), 'utf8')) as { Version: string; Statement: Statement[] };
const list = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/**
 * The Secrets Manager operations the shipped code sends: `new XCommand(` in a file that imports
 * XCommand from the SDK. The SDK export confirms each is a real operation. The sandbox emulator
 * serves operations, it does not call them, so it holds no such line.
 */
function operationsCalled(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of ['src', 'jobs'].flatMap((d) => sourceFiles(join(ROOT, d)))) {
    const text = readFileSync(file, 'utf8');
    const imported = /import\s*\{([^}]*)\}\s*from\s*['"]@aws-sdk\/client-secrets-manager['"]/s.exec(text)?.[1] ?? '';
    for (const match of text.matchAll(/new\s+(\w+)Command\s*\(/g)) {
      const command = `${match[1]}Command`;
      if (!new RegExp(`\\b${command}\\b`).test(imported)) continue;
      expect(typeof (SecretsManager as Record<string, unknown>)[command], `${command} is not an SDK command`).toBe('function');
      found.set(match[1]!, [...(found.get(match[1]!) ?? []), relative(ROOT, file)]);
    }
  }
  return found;
}

describe('the IAM policy', () => {
  const secretsStatements = POLICY.Statement.filter((s) => list(s.Action).some((a) => a.startsWith('secretsmanager:')));

  it('is a 2012-10-17 policy of Allow statements with explicit Action and Resource lists', () => {
    expect(POLICY.Version).toBe('2012-10-17');
    for (const s of POLICY.Statement) {
      expect(s.Effect).toBe('Allow');
      expect(s.NotAction).toBeUndefined();
      expect(s.NotResource).toBeUndefined();
      for (const action of list(s.Action)) expect(action, 'no wildcard action').not.toMatch(/\*/);
    }
  });

  it('allows exactly the Secrets Manager operations the code calls: none it does not call, all it does', () => {
    const called = operationsCalled();
    expect(called.size).toBeGreaterThanOrEqual(5);
    const allowed = secretsStatements.flatMap((s) => list(s.Action)).map((a) => a.replace(/^secretsmanager:/, '')).sort();
    expect(allowed).toEqual([...called.keys()].sort());
  });

  it('includes ListSecretVersionIds (status, verify and reconcile call it; issue 6 forgot it)', () => {
    expect(operationsCalled().has('ListSecretVersionIds')).toBe(true);
    expect(secretsStatements.flatMap((s) => list(s.Action))).toContain('secretsmanager:ListSecretVersionIds');
  });

  it('grants Secrets Manager actions only on named secret ARNs, never on *', () => {
    for (const s of secretsStatements) {
      for (const resource of list(s.Resource)) {
        expect(resource).toMatch(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+(-\?{6}|-[A-Za-z0-9]{6})$/);
      }
    }
  });

  it('allows only kms:Decrypt and kms:GenerateDataKey, on one key, and only through Secrets Manager', () => {
    const kms = POLICY.Statement.filter((s) => list(s.Action).some((a) => a.startsWith('kms:')));
    expect(kms).toHaveLength(1);
    expect(list(kms[0]!.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    for (const resource of list(kms[0]!.Resource)) expect(resource).toMatch(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]+$/);
    expect(kms[0]!.Condition?.StringEquals?.['kms:ViaService']).toMatch(/^secretsmanager\.[a-z0-9-]+\.amazonaws\.com$/);
  });

  it('holds no action outside secretsmanager: and kms:', () => {
    for (const action of POLICY.Statement.flatMap((s) => list(s.Action))) expect(action).toMatch(/^(secretsmanager|kms):[A-Za-z]+$/);
  });
});
