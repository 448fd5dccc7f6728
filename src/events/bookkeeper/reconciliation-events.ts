/**
 * Reconciliations: a bank account's statement agreed with the ledger for a period.
 * `reconciliation.completed` carries `previousAttributes`, the previous values of the
 * fields completing it changed.
 */
import { z } from 'zod';
import { moneyWithExponentSchema } from '../money/money-schemas.js';
import { eventDefinition, id, isoDate, isoDateTime, metadata, objectStatusCheck, occurredAt } from './event-fields.js';

/** A reconciliation as the ledger holds it. */
export const reconciliationSchema = z
  .strictObject({
    id,
    bankAccountId: id,
    status: z.enum(['in_progress', 'completed']),
    periodStart: isoDate,
    periodEnd: isoDate,
    statementBalance: moneyWithExponentSchema,
    ledgerBalance: moneyWithExponentSchema,
    difference: moneyWithExponentSchema,
    transactionCount: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
    completedAt: isoDateTime.nullable(),
    completedBy: id.nullable(),
  })
  .check((ctx) => {
    const { periodStart, periodEnd, statementBalance, ledgerBalance, difference } = ctx.value;
    // ISO dates compare as strings.
    if (periodEnd < periodStart) {
      ctx.issues.push({ code: 'custom', message: `a date on or after periodStart ${periodStart}`, input: periodEnd, path: ['periodEnd'] });
    }
    for (const [key, money] of [['ledgerBalance', ledgerBalance], ['difference', difference]] as const) {
      if (money.currency !== statementBalance.currency) {
        ctx.issues.push({
          code: 'custom',
          message: `${statementBalance.currency}, the statement's currency`,
          input: money.currency,
          path: [key, 'currency'],
        });
      }
    }
    if (difference.amount !== statementBalance.amount - ledgerBalance.amount) {
      ctx.issues.push({
        code: 'custom',
        message: `${statementBalance.amount - ledgerBalance.amount} (statementBalance − ledgerBalance)`,
        input: difference.amount,
        path: ['difference', 'amount'],
      });
    }
  })
  .meta({ id: 'Reconciliation' });

const eur = (amount: number) => ({ amount, currency: 'EUR', exponent: 2 });

/** The `reconciliation.*` events, with their examples. */
export const reconciliationEvents = {
  'reconciliation.completed': eventDefinition(
    z
      .strictObject({
        reconciliation: reconciliationSchema,
        previousAttributes: z.strictObject({ status: z.literal('in_progress'), completedAt: z.null(), completedBy: z.null() }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('reconciliation', ['completed'], ['completedAt', 'completedBy'])),
    {
      reconciliation: {
        id: 'rec_2026_11',
        bankAccountId: 'ba_main',
        status: 'completed',
        periodStart: '2026-11-01',
        periodEnd: '2026-11-30',
        statementBalance: eur(4_815_220),
        ledgerBalance: eur(4_815_220),
        difference: eur(0),
        transactionCount: 214,
        completedAt: '2026-12-02T15:30:00.000Z',
        completedBy: 'usr_7',
      },
      previousAttributes: { status: 'in_progress', completedAt: null, completedBy: null },
      occurredAt: '2026-12-02T15:30:00.000Z',
    },
  ),
};
