/**
 * The clock of bus envelopes: the publishing node stamps each event with
 * it and the receiving node reads the bus lag against its own
 * (`webim_bus_lag_seconds`). In a module of its own so that the Redis bus
 * and the core's cluster side both take it without depending on each
 * other.
 */

/** ms since epoch with a fraction: on one machine the bus takes well under a millisecond. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}
