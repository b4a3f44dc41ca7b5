// The test cluster's PKI: a CA, the API server's serving certificate signed by it (for in-cluster clients, which
// verify the server against the ca.crt of their service-account volume), and the key that signs and verifies
// service-account tokens (RS256 JWTs with the claims a 1.24 bound token carries).
import { generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import forge from 'node-forge';
import { certificate, keyPair } from '../../support/x509.ts';

export interface ServingPki {
  /** PEM of the CA certificate: what pods get as ca.crt and kube-root-ca.crt holds. */
  readonly caCert: string;
  /** PEM key and certificate the API server serves TLS with (SAN 127.0.0.1 and the kubernetes Service names). */
  readonly serverKey: string;
  readonly serverCert: string;
}

export interface TokenClaims {
  /** system:serviceaccount:NS:NAME */
  sub: string;
  namespace: string;
  serviceAccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  /** Seconds since the epoch. */
  exp: number;
}

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';

export function createServingPki(): ServingPki {
  const ca = keyPair();
  const caCert = certificate({
    subject: [{ name: 'commonName', value: 'kx-test-ca' }], issuer: undefined, publicKey: ca.publicKey, signingKey: ca.privateKey,
    extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }],
  });
  const server = keyPair();
  const serverCert = certificate({
    subject: [{ name: 'commonName', value: 'kube-apiserver' }], issuer: caCert, publicKey: server.publicKey, signingKey: ca.privateKey,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [
        { type: 7, ip: '127.0.0.1' },
        ...['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'].map((value) => ({ type: 2, value })),
      ] },
    ],
  });
  return { caCert: forge.pki.certificateToPem(caCert), serverKey: forge.pki.privateKeyToPem(server.privateKey), serverCert: forge.pki.certificateToPem(serverCert) };
}

/** Signs and verifies service-account tokens with one RSA key. */
export class TokenSigner {
  private readonly key = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private readonly kid = randomUUID();

  issue(c: TokenClaims): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', kid: this.kid };
    const payload = {
      aud: [ISSUER], exp: c.exp, iat: now, nbf: now, iss: ISSUER, sub: c.sub,
      'kubernetes.io': {
        namespace: c.namespace,
        ...(c.pod ? { pod: c.pod } : {}),
        serviceaccount: c.serviceAccount,
      },
    };
    const body = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
    return `${body}.${sign('sha256', Buffer.from(body), this.key.privateKey).toString('base64url')}`;
  }

  /** The claims of a token this signer issued that has not expired; undefined for anything else. */
  verify(token: string): TokenClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [h, p, s] = parts as [string, string, string];
    if (!verify('sha256', Buffer.from(`${h}.${p}`), this.key.publicKey, Buffer.from(s, 'base64url'))) return undefined;
    try {
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
      const k = payload['kubernetes.io'] as { namespace: string; pod?: { name: string; uid: string }; serviceaccount: { name: string; uid: string } };
      if (payload.iss !== ISSUER || typeof payload.exp !== 'number' || payload.exp * 1000 < Date.now()) return undefined;
      return { sub: String(payload.sub), namespace: k.namespace, serviceAccount: k.serviceaccount, exp: payload.exp, ...(k.pod ? { pod: k.pod } : {}) };
    } catch {
      return undefined;
    }
  }
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64url');
}
