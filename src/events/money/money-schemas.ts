/**
 * The zod schemas of money in event payloads (DESIGN §4: integer minor units plus an
 * ISO 4217 currency, or decimal strings — never floats).
 *
 * - An amount is an integer count of the currency's minor unit, within the safe integers,
 *   with a current ISO 4217 code ({@link currencyExponent}'s table): `AAA` is refused.
 * - Its `exponent` is the currency's minor-unit exponent. {@link moneySchema} takes it
 *   optionally (payloads written before it existed stay valid) and checks it when given;
 *   {@link moneyWithExponentSchema}, used by every bookkeeping document of the catalog,
 *   requires it, so a consumer reads 12.30 EUR off `{ amount: 1230, currency: 'EUR',
 *   exponent: 2 }` with no table of its own.
 * - Ratios (exchange rates, tax rates, quantities) are decimal strings: `"1.0842"` survives
 *   every JSON parser exactly, where `1.0842` becomes the nearest binary float.
 *
 * Each schema carries an `id` in zod's global registry, so that `z.toJSONSchema` writes it
 * once under `$defs` and refers to it (`#/$defs/Money`).
 */
import { z } from 'zod';
import { currencyExponent, isCurrencyCode } from './currency-exponent.js';

/** A current ISO 4217 currency code with a minor unit (`EUR`, `JPY`, `BHD`); `AAA` and `eur` are refused. */
export const currencyCodeSchema = z
  .string()
  .regex(/^[A-Z]{3}$/, { message: 'an ISO 4217 code such as "EUR"', abort: true })
  .refine(isCurrencyCode, { message: 'a current ISO 4217 currency code (see the README\'s Money section)' })
  .meta({ id: 'CurrencyCode' });

const minorUnits = z.int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const exponent = z.int().min(0).max(4);

/** Refuses an `exponent` other than the currency's own (an unknown currency is reported by its field). */
function checkExponent(ctx: z.core.ParsePayload<{ currency: string; exponent?: number | undefined }>): void {
  const { currency, exponent: given } = ctx.value;
  const expected = currencyExponent(currency);
  if (given === undefined || expected === undefined || given === expected) return;
  ctx.issues.push({
    code: 'custom',
    message: `${expected}, the minor-unit exponent of ${currency} (ISO 4217)`,
    input: given,
    path: ['exponent'],
  });
}

/**
 * An amount of money: integer minor units of an ISO 4217 currency, with the currency's
 * exponent optional (checked when given). 12.30 EUR is `{ amount: 1230, currency: 'EUR' }`
 * or `{ amount: 1230, currency: 'EUR', exponent: 2 }`. Other keys are refused.
 */
export const moneySchema = z
  .strictObject({ amount: minorUnits, currency: currencyCodeSchema, exponent: exponent.optional() })
  .check(checkExponent)
  .meta({ id: 'Money' });

/**
 * An amount of money that carries its currency's exponent: `{ amount: 1230, currency:
 * 'EUR', exponent: 2 }` (12.30 EUR). The exponent must be the currency's (JPY 0, EUR 2,
 * BHD 3, CLF 4).
 */
export const moneyWithExponentSchema = z
  .strictObject({ amount: minorUnits, currency: currencyCodeSchema, exponent })
  .check(checkExponent)
  .meta({ id: 'MoneyWithExponent' });

/** {@link moneyWithExponentSchema} with an amount > 0: what a payment, a payout or a booking moves. */
export const positiveMoneyWithExponentSchema = moneyWithExponentSchema.refine((money) => money.amount > 0, {
  message: 'an amount > 0 minor units',
});

/** A decimal number written as a string, for exactness: `"19"`, `"0.5"`, `"-2.25"`; no exponent notation, no leading zeros. */
export const decimalStringSchema = z
  .string()
  .max(40)
  .regex(/^-?(?:0|[1-9]\d*)(?:\.\d+)?$/, 'a decimal number as a string, such as "19.5"')
  .meta({ id: 'DecimalString' });

const unsignedDecimal = z
  .string()
  .max(40)
  .regex(/^(?:0|[1-9]\d*)(?:\.\d+)?$/, 'an unsigned decimal number as a string, such as "1.0842"');

/**
 * An exchange rate: one unit of `from` is worth `rate` units of `to` (in major units), so
 * an amount in `to` is the amount in `from` times `rate`. `rate` is a decimal string > 0.
 * `{ rate: '1.0842', from: 'EUR', to: 'USD' }`: 1 EUR = 1.0842 USD.
 */
export const fxRateSchema = z
  .strictObject({
    rate: unsignedDecimal.refine((rate) => /[1-9]/.test(rate), { message: 'a rate > 0' }),
    from: currencyCodeSchema,
    to: currencyCodeSchema,
  })
  .refine((fx) => fx.from !== fx.to, { message: 'a currency other than `from`', path: ['to'] })
  .meta({ id: 'FxRate' });

/**
 * One tax applied to a line or a document: its `name` (`VAT`, `GST`, `Sales tax (CA)`),
 * its `rate` in percent as a decimal string (`"19"` is 19 %, `"8.875"` 8.875 %) and the tax
 * `amount` in minor units with the exponent.
 */
export const taxLineSchema = z
  .strictObject({
    name: z.string().min(1).max(100),
    rate: unsignedDecimal,
    amount: moneyWithExponentSchema,
  })
  .meta({ id: 'TaxLine' });

/** What {@link moneySchema} accepts and gives. */
export type Money = z.output<typeof moneySchema>;
/** What {@link moneyWithExponentSchema} accepts and gives. */
export type MoneyWithExponent = z.output<typeof moneyWithExponentSchema>;
/** What {@link fxRateSchema} accepts and gives. */
export type FxRate = z.output<typeof fxRateSchema>;
/** What {@link taxLineSchema} accepts and gives. */
export type TaxLine = z.output<typeof taxLineSchema>;
