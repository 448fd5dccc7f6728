/** Every command of the CLI, in the order `--help` lists them. */
import type { Command } from '../command.js';
import { catalogExportCommand, catalogListCommand } from './catalog.js';
import {
  deliveriesAttemptsCommand,
  deliveriesBlockedCommand,
  deliveriesListCommand,
  deliveriesRedeliverCommand,
  deliveriesReplayCommand,
  deliveriesShowCommand,
  deliveriesSkipCommand,
  deliveriesTestsCommand,
} from './deliveries.js';
import { listenCommand } from './listen.js';
import { sendTestCommand } from './send-test.js';
import { signCommand } from './sign.js';
import { triggerCommand } from './trigger.js';
import { verifyCommand } from './verify.js';

export const commands: readonly Command[] = [
  listenCommand,
  triggerCommand,
  signCommand,
  verifyCommand,
  catalogExportCommand,
  catalogListCommand,
  deliveriesListCommand,
  deliveriesShowCommand,
  deliveriesAttemptsCommand,
  deliveriesTestsCommand,
  deliveriesRedeliverCommand,
  deliveriesReplayCommand,
  deliveriesBlockedCommand,
  deliveriesSkipCommand,
  sendTestCommand,
];
