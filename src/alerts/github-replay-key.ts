/**
 * The replay-guard key of a GitHub partner delivery. GitHub signs no timestamp, so a captured
 * delivery verifies forever; the guard remembers each one for GITHUB_REPLAY_TTL_SECONDS.
 *
 * The key is the signature's `r`, not the whole signature: an ECDSA signature (r, s) has a twin
 * (r, n - s) that verifies just as well, so anyone holding one delivery could mint a "new" one by
 * negating s. `r` is the x-coordinate of the signer's per-signature random point: the same for both
 * twins, different for every honest signature. The body is not used (it holds the leaked token).
 */
import { createHash } from 'node:crypto';

/** How long a GitHub delivery is remembered (seconds): a week, as long as a leak notice lives. */
export const GITHUB_REPLAY_TTL_SECONDS = 7 * 24 * 3600;

/** The `r` integer of a DER `ECDSA-Sig-Value`, as hex without leading zero bytes; null when not DER. */
export function ecdsaSignatureR(der: Uint8Array): string | null {
  // SEQUENCE { INTEGER r, INTEGER s }; a P-256 signature is at most 72 bytes: short-form lengths.
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return null;
  if (der[2] !== 0x02) return null;
  const length = der[3];
  if (length === undefined || length === 0 || length > 33 || 4 + length > der.length) return null;
  let start = 4;
  while (start < 4 + length - 1 && der[start] === 0) start++;
  return Buffer.from(der.subarray(start, 4 + length)).toString('hex');
}

/** The guard key of a verified delivery, from its Github-Public-Key-Signature (base64 DER). */
export function githubReplayKey(signatureBase64: string): string {
  const der = Buffer.from(signatureBase64, 'base64');
  const r = ecdsaSignatureR(der);
  return r === null ? `github-signature:${createHash('sha256').update(der).digest('hex')}` : `github-r:${r}`;
}
