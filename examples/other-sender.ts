// Verifying a Standard Webhooks message from another sender, whatever its payload:
// `npx tsx examples/other-sender.ts`. The partner's request is made here with the
// `standardwebhooks` package, the spec's reference library, so nothing of ours signs it.
// #region verify
import { SignatureVerificationError, verifyWebhookSignature } from '../src/receiver/index.js';
// #endregion verify
import { Webhook } from 'standardwebhooks';
import { generateSecret } from '../src/index.js';

const partnerSecret = generateSecret();
const rawBody = JSON.stringify({ object: 'shipment', status: 'delivered', ref: 'SHP-1042' });
const msgId = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
const sentAt = new Date();
const req = {
  headers: {
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
    'webhook-signature': new Webhook(partnerSecret).sign(msgId, sentAt, rawBody),
  },
};
process.env.PARTNER_SECRET = partnerSecret;

// #region verify
const { id, timestamp, body } = verifyWebhookSignature({ body: rawBody, headers: req.headers }, { secrets: process.env.PARTNER_SECRET! });
// id: the webhook-id; timestamp: unix seconds; body: the raw body as a string, in the sender's own format
// #endregion verify
console.log(`verified ${id} signed at ${timestamp}: ${body}`);

try {
  verifyWebhookSignature({ body: rawBody.replace('delivered', 'returned'), headers: req.headers }, { secrets: partnerSecret });
} catch (error) {
  if (!(error instanceof SignatureVerificationError)) throw error;
  console.log(`tampered copy refused: ${error.code}`);
}
