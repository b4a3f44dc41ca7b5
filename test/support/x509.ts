// X.509 material for tests: node:crypto makes the RSA keys (fast, native); node-forge assembles and signs the
// certificates. The test cluster's PKI and the TLS engine of the Docker-target tests are built from these.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface CertInput {
  subject: forge.pki.CertificateField[];
  /** undefined: self-signed. */
  issuer: forge.pki.Certificate | undefined;
  publicKey: forge.pki.rsa.PublicKey;
  signingKey: forge.pki.rsa.PrivateKey;
  extensions: object[];
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, PEM: what a TLS-verifying Docker engine uses. */
export interface MutualTlsPki {
  readonly ca: string;
  readonly serverKey: string;
  readonly serverCert: string;
  readonly clientKey: string;
  readonly clientCert: string;
}

export function keyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const pub = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey: forge.pki.privateKeyFromPem(pem), publicKey: forge.pki.publicKeyFromPem(pub) };
}

export function certificate(i: CertInput): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = i.publicKey;
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(8))}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 7 * 24 * 3600_000);
  cert.setSubject(i.subject);
  cert.setIssuer(i.issuer ? i.issuer.subject.attributes : i.subject);
  cert.setExtensions(i.extensions);
  cert.sign(i.signingKey, forge.md.sha256.create());
  return cert;
}

export function mutualTlsPki(): MutualTlsPki {
  const ca = keyPair();
  const caCert = certificate({
    subject: [{ name: 'commonName', value: 'kx-test-engine-ca' }], issuer: undefined, publicKey: ca.publicKey, signingKey: ca.privateKey,
    extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }],
  });
  const leaf = (commonName: string, usage: object, altNames: object[]) => {
    const pair = keyPair();
    const cert = certificate({
      subject: [{ name: 'commonName', value: commonName }], issuer: caCert, publicKey: pair.publicKey, signingKey: ca.privateKey,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', ...usage },
        ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
      ],
    });
    return { key: forge.pki.privateKeyToPem(pair.privateKey), cert: forge.pki.certificateToPem(cert) };
  };
  const server = leaf('docker-engine', { serverAuth: true }, [{ type: 7, ip: '127.0.0.1' }]);
  const client = leaf('kx-developer', { clientAuth: true }, []);
  return { ca: forge.pki.certificateToPem(caCert), serverKey: server.key, serverCert: server.cert, clientKey: client.key, clientCert: client.cert };
}
