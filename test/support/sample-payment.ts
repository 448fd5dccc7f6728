/** A valid `payment.succeeded` payload of the Bookkeeper catalog: `pay_<n>`, `amount` in minor units of EUR. */
export function samplePayment(n = 1, amount = 12_30) {
  return {
    paymentId: `pay_${n}`,
    customerId: 'cus_1',
    amount: { amount, currency: 'EUR' },
    method: 'card' as const,
    occurredAt: '2026-11-26T12:00:00.000Z',
  };
}
