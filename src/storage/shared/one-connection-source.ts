/**
 * The rule of both durable storages' factories: the storage gets its database one way —
 * it opens it itself (`filename`, `connectionString`) or it is handed one (`database`,
 * `pool`) — never both, never neither.
 */
import { ConfigError } from '../../errors.js';

/**
 * @param factory the factory's name for the message, e.g. `createSqliteStorage`.
 * @param opens the option with which the storage opens its own connection, and its value.
 * @param handed the option with which the host hands one in, and its value.
 * @throws ConfigError `CONFIG_INVALID` naming the field at fault.
 */
export function assertOneConnectionSource(factory: string, opens: [name: string, value: unknown], handed: [name: string, value: unknown]): void {
  const [opensName, opensValue] = opens;
  const [handedName, handedValue] = handed;
  if ((opensValue === undefined) !== (handedValue === undefined)) return;
  throw new ConfigError(
    'CONFIG_INVALID',
    `Expected exactly one of \`${opensName}\` or \`${handedName}\` in the options of ${factory}(), got ${opensValue === undefined ? 'neither' : 'both'}`,
    { field: opensValue === undefined ? opensName : handedName },
  );
}
