// Test certificates for X.509 devices, made with the openssl command line
// (Node's crypto module parses certificates but cannot issue them).
import { execFileSync } from 'node:child_process';
import path from 'node:path';

function openssl(...args) {
  return execFileSync('openssl', args, { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

// A self-signed CA in dir: { cert, key } paths.
export function makeCA(dir, name) {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  openssl('req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  return { cert, key };
}

// A device certificate with subject CN cn, signed by ca ({ cert, key }) or
// self-signed without one: { cert, key } paths.
export function makeDeviceCert(dir, cn, ca) {
  const stem = cn.replace(/\//g, '_');
  const cert = path.join(dir, `${stem}.pem`);
  const key = path.join(dir, `${stem}.key`);
  if (!ca) {
    openssl('req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`);
    return { cert, key };
  }
  const csr = path.join(dir, `${stem}.csr`);
  openssl('req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`);
  openssl('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2');
  return { cert, key };
}

// The certificate's thumbprint as IoT Hub shows it: upper-case hex.
export function thumbprint(cert, digest = 'sha1') {
  const out = openssl('x509', '-in', cert, '-noout', '-fingerprint', `-${digest}`);
  return out.trim().split('=')[1].replace(/:/g, '').toUpperCase();
}
