/**
 * Baseline task: one piscina task per event. It does what the dispatcher's bench handler does with
 * an event (note the vector), so the difference measured is the delivery path, not the work.
 */
let seen = 0;

/** Handles one event for `vector`; returns it so the caller can re-raise it (closed loop). */
export default function handle(vector: number): number {
  seen++;
  return vector + (seen & 0);
}
