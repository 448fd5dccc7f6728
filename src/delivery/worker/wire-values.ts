/**
 * Values on their way between the dispatcher's worker thread and the host: structured
 * clone keeps plain data and dates, but an error loses its class and its own fields (a
 * `StorageError` would arrive as a bare `Error` without its `code`), and a function makes
 * the whole message fail. So errors travel as records and are rebuilt on the host as the
 * library's own classes, and what cannot be cloned is named instead of sent.
 */
import { ConfigError, ConflictError, StateError, StorageError, ValidationError, WebhookError } from '../../errors.js';

/** An error as it crosses: its class name, message, stack, and its own plain fields (`code`, `retryable`, …). */
export interface WireError {
  readonly wireError: true;
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly fields: Record<string, unknown>;
  readonly cause: unknown;
}

const maxDepth = 8;

function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && (value as Partial<WireError>).wireError === true;
}

/** `value` made safe for `postMessage`: errors as {@link WireError}s, functions and symbols named. */
export function toWire(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
    if (typeof value === 'symbol') return value.toString();
    return value;
  }
  if (depth >= maxDepth) return '[nested too deep]';
  if (value instanceof Error) {
    const fields: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) fields[key] = toWire(field, depth + 1);
    const { cause } = value as { cause?: unknown };
    return { wireError: true, name: value.name, message: value.message, stack: value.stack, fields, cause: toWire(cause, depth + 1) } satisfies WireError;
  }
  if (value instanceof Date || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map((item) => toWire(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = toWire(field, depth + 1);
  return copy;
}

const libraryErrors: Record<string, new (code: never, message: string) => WebhookError> = {
  ConfigError,
  ConflictError,
  ValidationError,
  StateError,
  StorageError,
  WebhookError,
};

/** Rebuilds an error: the library's class when it was one (`isWebhookError`, `code` and all), else an `Error` of the same name. */
export function reviveError(wire: WireError): Error {
  const fields = fromWire(wire.fields) as Record<string, unknown>;
  const LibraryError = libraryErrors[wire.name];
  let error: Error;
  if (LibraryError !== undefined && typeof fields.code === 'string') {
    error = new LibraryError(fields.code as never, wire.message);
  } else {
    error = new Error(wire.message);
    error.name = wire.name;
  }
  // The fields the constructor set (code, field, retryable) are overwritten with what came.
  for (const [key, field] of Object.entries(fields)) {
    Object.defineProperty(error, key, { value: field, enumerable: true, writable: true, configurable: true });
  }
  if (wire.cause !== undefined) Object.defineProperty(error, 'cause', { value: fromWire(wire.cause), writable: true, configurable: true });
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

/** The inverse of {@link toWire} on the host: errors rebuilt, the rest as it came. */
export function fromWire(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Date || ArrayBuffer.isView(value)) return value;
  if (isWireError(value)) return reviveError(value);
  if (Array.isArray(value)) return value.map(fromWire);
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = fromWire(field);
  return copy;
}

