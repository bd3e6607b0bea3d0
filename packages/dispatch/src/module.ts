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
    throw new DispatchError('EMODULE', `cannot load handler module ${url}: ${String(err)}`, { cause: err });
  }
  const def = ns.default as Record<string, unknown> | undefined;
  const pick = (name: string) => {
    const f = ns[name] ?? (typeof def === 'object' && def !== null ? def[name] : undefined);
    if (f !== undefined && typeof f !== 'function') {
      throw new DispatchError('EMODULE', `handler module ${url}: export '${name}' is not a function`);
    }
    return f as HandlerModule['handler'];
  };
  const handler = pick('handler');
  const thread = pick('thread');
  if (handler === undefined && thread === undefined) {
    throw new DispatchError('EMODULE', `handler module ${url} exports neither 'handler' nor 'thread'`);
  }
  return { handler, thread };
}
