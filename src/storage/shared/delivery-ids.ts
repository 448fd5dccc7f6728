/**
 * The id of a delivery an adapter creates (fan-out, replay): time-sortable, so the
 * delivery log pages newest first by id in every storage.
 */
import { createId } from '../../ids.js';

/** A new delivery id for a delivery created at `now` (epoch ms). */
export function newDeliveryId(now: number): string {
  return createId('dlv', now);
}
