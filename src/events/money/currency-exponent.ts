/**
 * The ISO 4217 currencies and their minor-unit exponents, shipped with the library so
 * that neither a sender nor a consumer needs a table of its own: 1230 minor units of EUR
 * (exponent 2) are 12.30 EUR, 1230 of JPY (exponent 0) are 1230 JPY, 1230 of BHD
 * (exponent 3) are 1.230 BHD.
 *
 * The data is ISO 4217 list one (current currencies and funds) as published by its
 * maintenance agency on 2026-01-01. Left out are the codes whose minor unit the list gives
 * as "N.A." — gold, silver, platinum, palladium (XAU, XAG, XPT, XPD), the SDR (XDR), the
 * bond-market units (XBA–XBD), SUCRE (XSU), the ADB unit of account (XUA), the testing code
 * (XTS) and "no currency" (XXX): an amount in minor units means nothing without an exponent.
 * Withdrawn codes (HRK since 2023, BGN since 2026, …) are not on the list either.
 */

/** Codes by exponent; every other current code has 2. Sorted, so a reader can check it against the list. */
const codesByExponent: Readonly<Record<0 | 2 | 3 | 4, string>> = {
  0: 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF',
  2:
    'AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF ' +
    'CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG ' +
    'HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR ' +
    'MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD ' +
    'SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XAD XCD ' +
    'XCG YER ZAR ZMW ZWG',
  3: 'BHD IQD JOD KWD LYD OMR TND',
  4: 'CLF UYW',
};

/** The date of the ISO 4217 list the table reproduces. */
export const ISO_4217_LIST_DATE = '2026-01-01';

/** A minor-unit exponent of a current ISO 4217 currency. */
export type CurrencyExponent = 0 | 2 | 3 | 4;

const exponents = new Map<string, CurrencyExponent>();
for (const [exponent, codes] of Object.entries(codesByExponent)) {
  for (const code of codes.split(' ')) exponents.set(code, Number(exponent) as CurrencyExponent);
}

/**
 * Every current ISO 4217 code with its minor-unit exponent, in alphabetical order:
 * `['AED', 2], ['AFN', 2], …`. Frozen.
 */
export const currencyExponents: ReadonlyArray<readonly [code: string, exponent: CurrencyExponent]> = Object.freeze(
  [...exponents].sort(([a], [b]) => (a < b ? -1 : 1)).map((entry) => Object.freeze(entry)),
);

/**
 * True when `code` is a current ISO 4217 currency code (upper case, as the list writes
 * it) that has a minor unit: `isCurrencyCode('EUR')` is true, `'AAA'`, `'eur'`, `'XAU'`
 * and a withdrawn `'HRK'` are not.
 */
export function isCurrencyCode(code: unknown): code is string {
  return typeof code === 'string' && exponents.has(code);
}

/**
 * The minor-unit exponent of a currency: the number of decimal places its amounts have,
 * so that `amount / 10 ** exponent` is the amount in major units (done without floats:
 * see the README's Money section). `currencyExponent('JPY')` is 0, `'EUR'` 2, `'BHD'` 3,
 * `'CLF'` 4; `undefined` for a code that {@link isCurrencyCode} refuses.
 */
export function currencyExponent(code: string): CurrencyExponent | undefined {
  return exponents.get(code);
}
