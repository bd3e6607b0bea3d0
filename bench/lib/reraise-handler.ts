// The closed loop's handler for closed-loop.callgrind.ts: re-raise the vector being served through
// core's vector table (the device answering each handled interrupt with the next), until told to stop.
import { type HandlerContext, VectorTable, type VectorTableHandle } from 'virq';

let table: VectorTable | undefined;

/** Top half: raise this vector again unless the stop word is set. */
export function handler(vector: number, ctx: HandlerContext): boolean {
  const d = ctx.data as { table: VectorTableHandle; stop: Int32Array };
  table ??= VectorTable.attach(d.table);
  if (Atomics.load(d.stop, 0) === 0) table.raise(ctx.index, vector);
  return false;
}
