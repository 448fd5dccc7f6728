/**
 * The header that carries a delivery's number among its subscription's deliveries of the
 * event's ordering key (1, 2, 3, … in publish order; the same on every retry), so that a
 * consumer can tell a duplicate from a gap. Outside the signature, like every header but the
 * three of Standard Webhooks; the key itself is in the signed envelope (`orderingKey`).
 */
export const SEQUENCE_HEADER = 'webhook-sequence';
