import type { Logger } from 'pino';
import { OUTCOME, type RotationEvent } from '../rotation/types.ts';

/**
 * Turns engine events into log lines. Every line carries credential, rotationId and step (or
 * cluster); none carries a password, because no event does.
 */
export function logRotationEvents(logger: Logger): (event: RotationEvent) => void {
  return (event) => {
    switch (event.type) {
      case 'step-begin':
        logger.debug({ credential: event.credential, rotationId: event.rotationId, step: event.step }, 'step begun');
        return;
      case 'step-end':
        logger.info(
          { credential: event.credential, rotationId: event.rotationId, step: event.step, durationMs: event.durationMs, ok: event.ok },
          'step ended',
        );
        return;
      case 'cluster':
        logger.info(
          { credential: event.credential, rotationId: event.rotationId, cluster: event.cluster, clusterState: event.state, detail: event.detail },
          'cluster state',
        );
        return;
      case 'outcome': {
        const { result } = event;
        const level = result.outcome === OUTCOME.rotated ? 'info' : result.outcome === OUTCOME.needsAttention ? 'error' : 'warn';
        logger[level](
          {
            credential: result.credential,
            rotationId: result.rotationId,
            step: 'outcome',
            outcome: result.outcome,
            reason: result.reason,
            mode: result.mode,
            versionId: result.versionId,
            clusters: result.clusters,
            durationMs: result.durationMs,
            error: result.error,
          },
          'rotation ended',
        );
        return;
      }
      default: {
        const unreachable: never = event;
        throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
      }
    }
  };
}
