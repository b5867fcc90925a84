import type { Step } from './types.ts';

/**
 * The points at which a strategy calls its fence: every side effect, and every step boundary.
 * A closed union (the write gate and the tests match on `kind`, never on free text):
 *  - `step`: a step is about to begin;
 *  - `secrets-write`: a Secrets Manager write is about to be sent (the write gate paces these);
 *  - `cluster-write`: an update_password is about to be sent to `cluster`.
 */
export type FencePoint =
  | { kind: 'step'; step: Step }
  | { kind: 'secrets-write'; write: SecretsWrite }
  | { kind: 'cluster-write'; cluster: string };

/** The Secrets Manager writes of a rotation: the write ahead, the promotion, dropping AWSPENDING. */
export const SECRETS_WRITE = { putPending: 'put-pending', promote: 'promote', abandon: 'abandon' } as const;
export type SecretsWrite = (typeof SECRETS_WRITE)[keyof typeof SECRETS_WRITE];

export const fencePoint = {
  step: (step: Step): FencePoint => ({ kind: 'step', step }),
  secretsWrite: (write: SecretsWrite): FencePoint => ({ kind: 'secrets-write', write }),
  clusterWrite: (cluster: string): FencePoint => ({ kind: 'cluster-write', cluster }),
} as const;

/** True for the fence points that precede a Secrets Manager write (what the shared write budget counts). */
export function isSecretsWrite(point: FencePoint): boolean {
  return point.kind === 'secrets-write';
}

/** A stable one-word label for logs and tests: `step:load`, `put-pending`, `update-password:west`. */
export function fenceLabel(point: FencePoint): string {
  switch (point.kind) {
    case 'step':
      return `step:${point.step}`;
    case 'secrets-write':
      return point.write;
    case 'cluster-write':
      return `update-password:${point.cluster}`;
    default: {
      const unreachable: never = point;
      throw new Error(`unhandled fence point ${JSON.stringify(unreachable)}`);
    }
  }
}
