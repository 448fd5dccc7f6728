// Money in Bookkeeper's events: `npx tsx examples/money.ts`.
// Amounts are integer minor units with the currency's exponent; exchange and tax rates are
// decimal strings. Nothing here, on the sending or the receiving side, is a float.
// #region table
import { bookkeeperEvents, currencyExponent, isCurrencyCode, moneySchema, moneyWithExponentSchema } from '../src/index.js';
import type { FxRate, MoneyWithExponent } from '../src/index.js';

console.log(currencyExponent('EUR'), currencyExponent('JPY'), currencyExponent('BHD')); // 2 0 3
console.log(isCurrencyCode('AAA')); // false: not an ISO 4217 code, refused in any payload

// The documents' money carries the exponent, checked against the table:
console.log(moneyWithExponentSchema.safeParse({ amount: 1230, currency: 'EUR', exponent: 2 }).success); // true: 12.30 EUR
console.log(moneyWithExponentSchema.safeParse({ amount: 1230, currency: 'EUR', exponent: 3 }).success); // false: EUR has 2
// The payment-centred events' money may leave it out; a float never passes:
console.log(moneySchema.safeParse({ amount: 1230, currency: 'EUR' }).success); // true
console.log(moneySchema.safeParse({ amount: 12.3, currency: 'EUR' }).success); // false
// #endregion table

// #region format
/** `{ amount: 1230, exponent: 2 }` → `"12.30"`: string digits, exact for every safe integer. */
function toDecimalString({ amount, exponent }: { amount: number; exponent: number }): string {
  const digits = Math.abs(amount).toString().padStart(exponent + 1, '0');
  const fraction = exponent === 0 ? '' : `.${digits.slice(-exponent)}`;
  return `${amount < 0 ? '-' : ''}${digits.slice(0, digits.length - exponent)}${fraction}`;
}

const { invoice, payment } = bookkeeperEvents.examples['invoice.paid']; // what an `invoice.paid` carries
console.log(`${invoice.number}: ${toDecimalString(payment.amount)} ${payment.amount.currency} received, ${toDecimalString(invoice.amountDue)} due`);
// INV-2026-0042: 93.00 EUR received, 0.00 due
// #endregion format

// #region tax
// Tax lines sum exactly in minor units: the VAT of an invoice, per rate.
const taxByRate = new Map<string, number>();
for (const line of invoice.lines) {
  for (const tax of line.taxLines) {
    const key = `${tax.name} ${tax.rate} %`;
    taxByRate.set(key, (taxByRate.get(key) ?? 0) + tax.amount.amount);
  }
}
for (const [rate, minorUnits] of taxByRate) console.log(`${rate}: ${toDecimalString({ amount: minorUnits, exponent: invoice.taxTotal.exponent })} ${invoice.currency}`);
// VAT 19 %: 19.64 EUR
// #endregion tax

// #region fx
/** Converts with an exchange rate in BigInt arithmetic, rounding half to even: exact, unlike `amount * 0.9223`. */
function convert(money: MoneyWithExponent, fx: FxRate): MoneyWithExponent {
  const [whole, fraction = ''] = fx.rate.split('.');
  const exponent = currencyExponent(fx.to)!;
  // amount / 10^money.exponent × rate × 10^exponent, with the rate as digits / 10^fraction.length.
  const numerator = BigInt(money.amount) * BigInt(whole! + fraction) * 10n ** BigInt(exponent);
  const denominator = 10n ** BigInt(money.exponent + fraction.length);
  const quotient = numerator / denominator;
  const twiceRemainder = 2n * (numerator % denominator) * (numerator < 0n ? -1n : 1n);
  const roundAway = twiceRemainder > denominator || (twiceRemainder === denominator && quotient % 2n !== 0n);
  return { amount: Number(roundAway ? quotient + (numerator < 0n ? -1n : 1n) : quotient), currency: fx.to, exponent };
}

const { bill } = bookkeeperEvents.examples['bill.created']; // a USD bill in a euro book
const booked = convert(bill.total, bill.fx!);
console.log(`${bill.number}: ${toDecimalString(bill.total)} ${bill.currency} = ${toDecimalString(booked)} ${booked.currency} at ${bill.fx!.rate}`);
// CH-2026-11-0193: 250.00 USD = 230.58 EUR at 0.9223 (230.575, half to even)
// #endregion fx
