/**
 * HTML built from tagged templates that escape by default: every stored string the dashboard
 * shows (URLs, descriptions, metadata, response snippets) is written by someone else — a
 * customer, a receiver — so an interpolation is text unless it is already {@link Html}.
 */

/** Markup that is safe to write as is: made by {@link html} or, for constant markup, {@link raw}. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What an interpolation may be: text, numbers, markup, or lists of them; nothing for `null`, `undefined`, `false`. */
export type HtmlValue = Html | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text as HTML text or an attribute value (quoted with `"` or `'`). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => escapes[char]!);
}

function write(value: HtmlValue): string {
  if (value instanceof Html) return value.value;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(write).join('');
  return escapeHtml(String(value));
}

/** A template whose interpolations are escaped (markup made by `html` is kept). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += write(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Constant markup written by this library (never a value from a request or the storage). */
export function raw(markup: string): Html {
  return new Html(markup);
}
