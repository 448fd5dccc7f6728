/** Every command of the CLI, in the order `--help` lists them. */
import type { Command } from '../command.js';
import { catalogExportCommand, catalogListCommand } from './catalog.js';
import { signCommand } from './sign.js';
import { verifyCommand } from './verify.js';

export const commands: readonly Command[] = [signCommand, verifyCommand, catalogExportCommand, catalogListCommand];
