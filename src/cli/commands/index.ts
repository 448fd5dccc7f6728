/** Every command of the CLI, in the order `--help` lists them. */
import type { Command } from '../command.js';
import { catalogExportCommand, catalogListCommand } from './catalog.js';
import { listenCommand } from './listen.js';
import { signCommand } from './sign.js';
import { triggerCommand } from './trigger.js';
import { verifyCommand } from './verify.js';

export const commands: readonly Command[] = [listenCommand, triggerCommand, signCommand, verifyCommand, catalogExportCommand, catalogListCommand];
