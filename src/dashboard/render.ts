/**
 * The small pieces every dashboard page writes the same way: times and status badges.
 * Each returns escaped markup for `html`.
 */
import { html, type Html } from './html.js';

/** What pages show for a figure that has no value (no latency yet, no pending delivery). */
export const noValue = '—';

/** An epoch-ms time as `<time datetime="ISO">ISO</time>` (the script shows it in the reader's zone); {@link noValue} for none. */
export function timeTag(epochMs: number | null | undefined): Html {
  if (epochMs === null || epochMs === undefined) return html`${noValue}`;
  const iso = new Date(epochMs).toISOString();
  return html`<time datetime="${iso}">${iso}</time>`;
}

/**
 * A status as a badge: `<span class="badge dead">dead</span>` (the stylesheet colours
 * delivered/active/closed, pending/held/half-open, dead/disabled/open/cancelled/deleted).
 */
export function statusBadge(status: string): Html {
  return html`<span class="badge ${status}">${status}</span>`;
}
