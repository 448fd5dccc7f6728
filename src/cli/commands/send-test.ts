/**
 * `bookkeeper-webhooks send-test`: `subscriptions.sendTest` on the app's store — one signed
 * request to a subscription's endpoint now, outside the retry machinery, recorded in the
 * subscription's test log (`deliveries tests`).
 */
import { booleanFlag, jsonOption, stringFlag, type Command } from '../command.js';
import { SECRETS_KEY_ENV, storageHelp, storageOption, withStore } from '../open-store.js';

export const sendTestCommand: Command = {
  name: 'send-test',
  summary: "Send a subscription's endpoint a signed test event now",
  positionals: ['subscription-id'],
  options: { ...storageOption, type: { type: 'string' }, 'allow-private-networks': { type: 'boolean' }, ...jsonOption },
  help: `Usage: bookkeeper-webhooks send-test <subscription-id> --storage <store> [--type <event-type>] [--catalog <module>]

Posts one request to the subscription's endpoint, signed with its secrets and
carrying its headers, as a delivery would be: a webhook.test event, or with
--type the catalog's example of that type. Prints the answer; exits 0 on a 2xx.
The request is recorded in the subscription's test log: see \`deliveries tests\`.
Secrets sealed with security.secretsKey open with ${SECRETS_KEY_ENV}.

Options:
  ${storageHelp}
  --type <event-type>     send this type's example instead of webhook.test
  --allow-private-networks
                          allow a loopback or private endpoint (off, as in the library)
  --json                  print { ok, statusCode, durationMs, error, webhookId, recorded }
  -h, --help              show this help`,

  async run(args, io) {
    const [id] = args.positionals as [string];
    const type = stringFlag(args, 'type');
    const result = await withStore(args, io, this, (webhooks) => webhooks.subscriptions.sendTest(id, type === undefined ? {} : { type }), {
      allowPrivateNetworks: booleanFlag(args, 'allow-private-networks'),
    });
    if (booleanFlag(args, 'json')) {
      io.out(JSON.stringify(result, null, 2));
    } else {
      const { green, red, bold, dim } = io.style;
      const outcome = result.ok ? green(bold(String(result.statusCode))) : red(bold(result.error ?? 'failed'));
      io.out(`${outcome}  ${dim(`${Math.round(result.durationMs)} ms`)}  webhook-id ${result.webhookId}${result.recorded ? '' : dim('  (not recorded in the test log)')}`);
    }
    return result.ok ? 0 : 1;
  },
};
