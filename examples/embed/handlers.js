// Runs inside virq's service workers: one module instance per worker thread.
let handled = 0;

/** Top half: runs on the worker that owns `vector`, in order, for every delivery. Keep it short. */
export function handler(vector, ctx) {
  handled += ctx.count; // ctx.count: raises this delivery stands for (1 + coalesced ones)
  return vector % 2 === 0; // true asks for thread(vector): queued at most once, like schedule_work
}

/** Deferred work: runs on the piscina pool, never twice at once for one vector. */
export async function thread(vector, ctx) {
  return { vector, delivered: ctx.counters().delivered, handledHere: handled };
}
