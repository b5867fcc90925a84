import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTempDir, trackTempDir } from './redis-process.ts';

export interface TestCertificates {
  dir: string;
  /** The CA that signed the server certificate (what `redis.caFile` names). */
  caFile: string;
  /** The server's certificate (SAN 127.0.0.1 and localhost) and key. */
  certFile: string;
  keyFile: string;
  /** A second, unrelated CA: trusting only it must refuse the server. */
  otherCaFile: string;
  /** A server certificate signed by the other CA, and its key. */
  otherCertFile: string;
  otherKeyFile: string;
  remove: () => void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`], dir);
}

function makeServerCert(dir: string, ca: string, name: string): void {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  const ext = join(dir, `${name}.ext`);
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > '${ext}'`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${name}.pem`], dir);
}

/**
 * A private CA and a server certificate it signed, plus an unrelated CA with a certificate of its
 * own, made with openssl in a temp dir (EC P-256: fast). Call `remove()` when done.
 */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-tls-'));
  trackTempDir(dir);
  makeCa(dir, 'ca');
  makeServerCert(dir, 'ca', 'server');
  makeCa(dir, 'other-ca');
  makeServerCert(dir, 'other-ca', 'other-server');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    otherCaFile: join(dir, 'other-ca.pem'),
    otherCertFile: join(dir, 'other-server.pem'),
    otherKeyFile: join(dir, 'other-server.key'),
    remove: () => removeTempDir(dir),
  };
}
