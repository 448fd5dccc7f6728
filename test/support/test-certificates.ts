/**
 * Certificates for TLS tests, made at run time: keys by node:crypto (fast, native),
 * certificates by node-forge, signed by a test CA. Nothing is read from disk.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

/** A certificate with its key, both PEM. */
export interface TestIdentity {
  certificate: string;
  key: string;
}

export interface TestCa extends TestIdentity {
  /** Issues a certificate signed by this CA. */
  issue(options: IssueOptions): TestIdentity;
}

export interface IssueOptions {
  commonName: string;
  /** DNS names in subjectAltName. */
  dnsNames?: string[];
  /** IP addresses in subjectAltName. */
  ipAddresses?: string[];
  /** `server` (serverAuth) or `client` (clientAuth). */
  usage: 'server' | 'client';
  /** Validity; default: from an hour ago to a day ahead. */
  notBefore?: Date;
  notAfter?: Date;
}

let serial = 1;

function keyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * forge signs with RSA only; EC keys are signed by an RSA CA, and forge needs the subject's
 * public key only as the bytes it embeds: it is set from its SPKI DER.
 */
function rsaPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function certificateFor(publicPem: string, subject: forge.pki.CertificateField[], issuer: forge.pki.CertificateField[], signer: forge.pki.rsa.PrivateKey, extensions: object[], notBefore: Date, notAfter: Date): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = (serial++).toString(16).padStart(4, '0');
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  cert.setExtensions(extensions);
  cert.sign(signer, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

function defaultValidity(): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 86_400_000) };
}

/** A self-signed test CA (RSA 2048) that issues RSA leaf certificates. */
export function createTestCa(commonName = 'Bookkeeper Test CA'): TestCa {
  const pair = rsaPair();
  const signer = forge.pki.privateKeyFromPem(pair.privatePem);
  const name = [{ name: 'commonName', value: commonName }];
  const { notBefore, notAfter } = defaultValidity();
  const certificate = certificateFor(pair.publicPem, name, name, signer, [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }], notBefore, notAfter);
  return {
    certificate,
    key: pair.privatePem,
    issue(options: IssueOptions): TestIdentity {
      // forge embeds RSA public keys only.
      const leaf = rsaPair();
      const validity = defaultValidity();
      const altNames = [...(options.dnsNames ?? []).map((value) => ({ type: 2, value })), ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip }))];
      const extensions: object[] = [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: options.usage === 'server', clientAuth: options.usage === 'client' },
        ...(altNames.length === 0 ? [] : [{ name: 'subjectAltName', altNames }]),
      ];
      const leafCertificate = certificateFor(
        leaf.publicPem,
        [{ name: 'commonName', value: options.commonName }],
        name,
        signer,
        extensions,
        options.notBefore ?? validity.notBefore,
        options.notAfter ?? validity.notAfter,
      );
      return { certificate: leafCertificate, key: leaf.privatePem };
    },
  };
}

/** An EC private key (PEM) unrelated to any certificate here: for mismatch cases. */
export function unrelatedKey(): string {
  return keyPair().privatePem;
}
