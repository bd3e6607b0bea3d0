/**
 * Loading the user's handler module, in each service worker and each deferred-work thread.
 */
import { pathToFileURL } from 'node:url';
import type { HandlerContext } from './context.js';
import { DispatchError } from './errors.js';

/**
 * What a handler module exports (named exports, or the same names on its default export).
 * - `handler(vector, ctx)`: the top half. Runs on the service worker that owns the vector, must be
 *   synchronous and short; return `true` to queue `thread` for this vector. Without `handler`,
 *   every delivery queues `thread` (virqfd with a NULL handler).
 * - `thread(vector, ctx)`: deferred work, on the piscina pool; may be async. Queued at most once per
 *   vector at a time; never runs twice at once for one vector.
 */
export interface HandlerModule {
  handler?: (vector: number, ctx: HandlerContext) => unknown;
  thread?: (vector: number, ctx: HandlerContext) => unknown;
  napi?: NapiHooks;
}

/**
 * A driver's own interrupt suppression for NAPI (export `napi` from the handler module): in poll and
 * hybrid modes the Dispatcher calls these on the service worker that owns the vector instead of masking
 * the vector itself, so the *device* stops interrupting while its queue is polled (e.g. virtio's
 * VIRTQ_AVAIL_F_NO_INTERRUPT) — the only way to quiet a real device's MSI-X vector, whose eventfd the
 * kernel signals regardless of virq's mask.
 * - `mask(vector, ctx)`: napi_schedule — the device stops interrupting for this vector's queue.
 * - `poll(vector, ctx, budget)`: one poll — do up to `budget` units of work (e.g. frames), return how
 *   many were done (0 = idle). The cycle ends after `idlePolls` idle polls, once `budget` work is done,
 *   or when hybrid mode moves the vector back to interrupt mode.
 * - `unmask(vector, ctx)`: napi_complete — re-enable the device's interrupt, then look for work that
 *   arrived meanwhile (it raised no interrupt); return false if there is some (the hook masks again and
 *   the Dispatcher keeps polling), true if the queue is quiet.
 * Interrupts that race with `mask` still arrive through the trigger and are delivered to `handler` as
 * usual, so the accounting (raised = delivered + coalesced + pending + dropped) is unchanged; work a poll
 * reports counts toward hybrid's rate.
 */
export interface NapiHooks {
  mask(vector: number, ctx: HandlerContext): void;
  poll(vector: number, ctx: HandlerContext, budget: number): number;
  unmask(vector: number, ctx: HandlerContext): boolean;
}

/** Normalises `module` (a path, a file: URL string or a URL) to a URL string. */
export function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return module;
  return pathToFileURL(module).href;
}

/** Imports and checks a handler module. Throws `EMODULE` if it exports neither function. */
export async function loadHandlerModule(url: string): Promise<HandlerModule> {
  let ns: Record<string, unknown>;
  try {
    ns = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new DispatchError('ERR_VIRQ_MODULE', `cannot load handler module ${url}: ${String(err)}`, {
      cause: err,
    });
  }
  const def = ns.default as Record<string, unknown> | undefined;
  const pick = (name: string) => {
    const f = ns[name] ?? (typeof def === 'object' && def !== null ? def[name] : undefined);
    if (f !== undefined && typeof f !== 'function') {
      throw new DispatchError('ERR_VIRQ_MODULE', `handler module ${url}: export '${name}' is not a function`);
    }
    return f as HandlerModule['handler'];
  };
  const handler = pick('handler');
  const thread = pick('thread');
  if (handler === undefined && thread === undefined) {
    throw new DispatchError(
      'ERR_VIRQ_MODULE',
      `handler module ${url} exports neither 'handler' nor 'thread'`,
    );
  }
  const napi = ns.napi ?? (typeof def === 'object' && def !== null ? def.napi : undefined);
  if (napi === undefined) return { handler, thread };
  const hooks = napi as Record<string, unknown>;
  for (const f of ['mask', 'poll', 'unmask']) {
    if (typeof hooks?.[f] !== 'function') {
      throw new DispatchError(
        'ERR_VIRQ_MODULE',
        `handler module ${url}: export 'napi' has no function '${f}' (needs mask, poll, unmask)`,
      );
    }
  }
  return { handler, thread, napi: napi as NapiHooks };
}
