/**
 * The parts shared by Bookkeeper's documents (invoices, bills, credit notes): the
 * counterparty, the lines with their taxes, a payment applied to a document, and the
 * checks every document's amounts pass.
 */
import { z } from 'zod';
import {
  currencyCodeSchema,
  decimalStringSchema,
  fxRateSchema,
  moneyWithExponentSchema,
  positiveMoneyWithExponentSchema,
  taxLineSchema,
  type MoneyWithExponent,
} from '../money/money-schemas.js';
import { id, isoDate } from './event-fields.js';

/** The customer or vendor on the other side of a document: its id in the ledger and, when known, its name. */
export const counterpartySchema = z
  .strictObject({ id, name: z.string().min(1).max(255).optional() })
  .meta({ id: 'Counterparty' });

/** One line of a document: what was sold or bought, its quantity, its price, its net amount and its taxes. */
export const documentLineSchema = z
  .strictObject({
    id,
    description: z.string().max(1000),
    quantity: decimalStringSchema,
    unitPrice: moneyWithExponentSchema,
    amount: moneyWithExponentSchema,
    accountId: id.nullable(),
    taxLines: z.array(taxLineSchema).max(20),
  })
  .meta({ id: 'DocumentLine' });

/** The money that settled (part of) a document: which payment, how much of it, on what date. */
export const appliedPaymentSchema = z
  .strictObject({
    id,
    amount: positiveMoneyWithExponentSchema,
    date: isoDate,
  })
  .meta({ id: 'AppliedPayment' });

/** The fields of a document the checks below read. */
export interface DocumentAmounts {
  currency: string;
  lines: ReadonlyArray<{ unitPrice: MoneyWithExponent; amount: MoneyWithExponent; taxLines: ReadonlyArray<{ amount: MoneyWithExponent }> }>;
  subtotal: MoneyWithExponent;
  taxTotal: MoneyWithExponent;
  total: MoneyWithExponent;
  fx: { from: string } | null;
}

/** The fields every document has after its `id`, `number` and `status`: whom it is with, in what currency, from when. */
export const documentHeadFields = {
  counterparty: counterpartySchema,
  currency: currencyCodeSchema,
  issueDate: isoDate,
};

/** The fields every document has for its content: the lines, their totals, the exchange rate, the booking. */
export const documentBodyFields = {
  lines: z.array(documentLineSchema).min(1).max(500),
  subtotal: moneyWithExponentSchema,
  taxTotal: moneyWithExponentSchema,
  total: moneyWithExponentSchema,
  fx: fxRateSchema.nullable(),
  journalEntryId: id.nullable(),
};

/** A document number as printed on it (`INV-2026-0042`). */
export const documentNumber = z.string().min(1).max(100);

/**
 * Checks that a document's money adds up: every amount in the document's currency
 * (`moneyKeys` and every line's), `total` = `subtotal` + `taxTotal`, and an exchange rate
 * (if any) from the document's currency. Line taxes are not summed against `taxTotal`:
 * where tax is computed on the total per rate, the two differ by rounding.
 */
export function checkDocumentAmounts<TDocument extends DocumentAmounts>(moneyKeys: readonly (keyof TDocument & string)[]) {
  return (ctx: z.core.ParsePayload<TDocument>): void => {
    const document = ctx.value;
    const expectCurrency = (money: MoneyWithExponent, path: (string | number)[]) => {
      if (money.currency !== document.currency) {
        ctx.issues.push({
          code: 'custom',
          message: `${document.currency}, the document's currency`,
          input: money.currency,
          path: [...path, 'currency'],
        });
      }
    };
    for (const key of moneyKeys) expectCurrency(document[key] as MoneyWithExponent, [key]);
    document.lines.forEach((line, index) => {
      expectCurrency(line.unitPrice, ['lines', index, 'unitPrice']);
      expectCurrency(line.amount, ['lines', index, 'amount']);
      line.taxLines.forEach((tax, taxIndex) => expectCurrency(tax.amount, ['lines', index, 'taxLines', taxIndex, 'amount']));
    });
    if (document.total.amount !== document.subtotal.amount + document.taxTotal.amount) {
      ctx.issues.push({
        code: 'custom',
        message: `${document.subtotal.amount + document.taxTotal.amount} (subtotal + taxTotal)`,
        input: document.total.amount,
        path: ['total', 'amount'],
      });
    }
    if (document.fx !== null && document.fx.from !== document.currency) {
      ctx.issues.push({
        code: 'custom',
        message: `${document.currency}, the document's currency`,
        input: document.fx.from,
        path: ['fx', 'from'],
      });
    }
  };
}
