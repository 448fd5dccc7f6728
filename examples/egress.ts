// Egress: `npx tsx examples/egress.ts`. Every delivery leaves through a forward proxy (the
// static egress IPs a financial receiver allow-lists); the ERP sits under a private CA and
// requires a client certificate (mutual TLS); the CRM sits under the same private CA and
// asks for no client certificate (`tls: { ca }` alone). All on loopback: the proxy, both
// receivers, and the certificates, minted at run time by node-forge (a devDependency of
// this repository) — yours come from your PKI, as PEM text.
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { createWebhooks } from '../src/index.js';
import { createNodeHandler } from '../src/receiver/index.js';

const pki = privateCa();
const serverCert = pki.issue('127.0.0.1', 'server');
const clientCert = pki.issue('bookkeeper-sender', 'client');

// A CONNECT proxy, as Squid or an egress gateway would be: it logs each tunnel's target.
const connectLog: string[] = [];
const proxy = createHttpServer((_req, res) => res.writeHead(405).end());
proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
  connectLog.push(`CONNECT ${req.url}`);
  const [host, port] = (req.url ?? '').split(':');
  const upstream = connect(Number(port), host, () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    upstream.write(head);
    upstream.pipe(client).pipe(upstream);
  });
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
});

// Two receivers under the private CA: the ERP refuses any client without a certificate of it.
const arrived: string[] = [];
let handlers: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {};
function receiver(name: string, requireClientCertificate: boolean) {
  const tls = { key: serverCert.key, cert: serverCert.certificate, ca: pki.certificate, requestCert: requireClientCertificate, rejectUnauthorized: requireClientCertificate };
  return createHttpsServer(tls, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    arrived.push(`${name} received a request ${peer.subject?.CN === undefined ? 'without a client certificate' : `from client certificate CN=${peer.subject.CN}`}`);
    handlers[name]!(req, res);
  });
}
const erp = receiver('erp', true);
const crm = receiver('crm', false);
for (const server of [proxy, erp, crm]) await once(server.listen(0, '127.0.0.1'), 'listening');
const portOf = (server: { address(): unknown }) => (server.address() as AddressInfo).port;
const names = new Map([
  [`127.0.0.1:${portOf(erp)}`, 'erp'],
  [`127.0.0.1:${portOf(crm)}`, 'crm'],
]);

// #region proxy
const webhooks = createWebhooks({
  security: { allowPrivateNetworks: true }, // loopback receivers, for this example only
  // Every delivery goes through the proxy (CONNECT, also for https: targets); 'env' reads HTTPS_PROXY and NO_PROXY instead.
  http: { proxy: `http://127.0.0.1:${portOf(proxy)}`, timeoutMs: 5_000 },
});
// #endregion proxy

// #region tls
// Mutual TLS under a private CA: PEM text (e.g. readFileSync('erp-client.pem', 'utf8')). The key
// is sealed at rest with `security.secretsKey` and never read back.
const erpSubscription = await webhooks.subscriptions.create({
  url: `https://127.0.0.1:${portOf(erp)}/webhooks`,
  eventTypes: ['payment.*'],
  tls: { clientCertificate: clientCert.certificate, clientKey: clientCert.key, ca: pki.certificate },
});
// #endregion tls
// #region ca-only
// A private CA without mutual TLS: `ca` (and/or `serverName`) alone.
const crmSubscription = await webhooks.subscriptions.create({ url: `https://127.0.0.1:${portOf(crm)}/webhooks`, eventTypes: ['payment.*'], tls: { ca: pki.certificate } });
// #endregion ca-only
console.log(`erp tls: client certificate ${erpSubscription.tls!.subject}, hasClientKey ${erpSubscription.tls!.hasClientKey}`);
console.log(`crm tls: client certificate ${crmSubscription.tls!.clientCertificate}, hasClientKey ${crmSubscription.tls!.hasClientKey}`);

const booked = (name: string) => (event: { type: string; data: unknown }) => void arrived.push(`${name} booked ${event.type} ${(event.data as { paymentId: string }).paymentId}`);
handlers = {
  erp: createNodeHandler({ secrets: erpSubscription.secret, onEvent: booked('erp') }),
  crm: createNodeHandler({ secrets: crmSubscription.secret, onEvent: booked('crm') }),
};

await webhooks.start();
await webhooks.publish('payment.succeeded', { paymentId: 'pay_1', customerId: 'cus_1', amount: { amount: 12300, currency: 'EUR' }, method: 'card', occurredAt: new Date().toISOString() });
await webhooks.drain({ timeoutMs: 10_000 });

for (const name of ['erp', 'crm']) for (const line of arrived.filter((entry) => entry.startsWith(`${name} `))) console.log(line);
const statuses = (await webhooks.deliveries.list()).items.map((delivery) => delivery.status);
console.log(`deliveries: ${statuses.join(', ')}`);
// One tunnel per receiver, in the order the dispatcher happened to open them: shown by receiver name.
const tunnels = connectLog.map((line) => ({ line, name: names.get(line.slice('CONNECT '.length)) ?? 'unknown' })).sort((a, b) => a.name.localeCompare(b.name));
console.log(`proxy CONNECT log: ${tunnels.map(({ line, name }) => `${line} (${name})`).join(', ')}`);
await webhooks.close();
for (const server of [proxy, erp, crm]) server.closeAllConnections?.();
for (const server of [proxy, erp, crm]) server.close();

/** A private CA that issues server and client certificates valid for a day: demonstration only. Keys by node:crypto (fast), certificates by node-forge. */
function privateCa() {
  const rsa = () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()) };
  };
  const ca = rsa();
  const caName = [{ name: 'commonName', value: 'Example Private CA' }];
  let serial = 1;
  const sign = (publicKey: forge.pki.PublicKey, subject: forge.pki.CertificateField[], extensions: object[]) => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = publicKey;
    cert.serialNumber = String(serial++).padStart(2, '0');
    cert.validity.notBefore = new Date(Date.now() - 3_600_000);
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    cert.setSubject(subject);
    cert.setIssuer(caName);
    cert.setExtensions(extensions);
    cert.sign(forge.pki.privateKeyFromPem(ca.key) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    return forge.pki.certificateToPem(cert);
  };
  const certificate = sign(ca.publicKey, caName, [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, critical: true }]);
  return {
    certificate,
    issue(commonName: string, usage: 'server' | 'client') {
      const leaf = rsa();
      const altNames = usage === 'server' ? [{ name: 'subjectAltName', altNames: [{ type: 7, ip: commonName }] }] : [];
      const extensions = [{ name: 'extKeyUsage', serverAuth: usage === 'server', clientAuth: usage === 'client' }, ...altNames];
      return { certificate: sign(leaf.publicKey, [{ name: 'commonName', value: commonName }], extensions), key: leaf.key };
    },
  };
}
