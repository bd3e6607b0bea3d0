import { syncError } from './errors.js';
import type { PrimitiveSpec } from './spec.js';
import { assertFits, assertOffset, assertShared } from './validate.js';

/** A named set of primitive specs, e.g. `{ lock: Mutex.spec(), ring: SpscRing.spec(1024) }`. */
export type LayoutSpecs = Record<string, PrimitiveSpec<unknown>>;

/** The attached instances of a layout: each key typed as its primitive's class. */
export type LayoutParts<S extends LayoutSpecs> = {
  [K in keyof S]: S[K] extends PrimitiveSpec<infer T> ? T : never;
};

/** The structured-cloneable handles of a layout: each key typed as its primitive's handle. */
export type LayoutHandles<S extends LayoutSpecs> = {
  [K in keyof S]: LayoutParts<S>[K] extends { readonly handle: infer H } ? H : never;
};

/**
 * Where each primitive of a set lives in one SharedArrayBuffer. Build it with {@link layout}; the same
 * specs always give the same offsets, so a worker can rebuild the layout from the same specs and
 * `attach` to a posted buffer, or take posted {@link Layout.handles} and call each class's `from`.
 */
export interface Layout<S extends LayoutSpecs> {
  /** Bytes the whole layout occupies (a multiple of {@link Layout.alignment}). */
  readonly byteLength: number;
  /** Largest alignment of any part: a base offset must be a multiple of it. */
  readonly alignment: number;
  /** Byte offset of each part, relative to the layout's base offset. */
  readonly offsets: { readonly [K in keyof S]: number };
  /** Allocates a SharedArrayBuffer of exactly {@link Layout.byteLength} and initialises every part. */
  create(): { buffer: SharedArrayBuffer; parts: LayoutParts<S> };
  /**
   * Writes every part's initial state (e.g. a semaphore's count) at `baseOffset` and returns the
   * attached instances. Do this once, before other threads attach.
   */
  init(buffer: SharedArrayBuffer, baseOffset?: number): LayoutParts<S>;
  /** Attaches to parts another thread already initialised, writing nothing. */
  attach(buffer: SharedArrayBuffer, baseOffset?: number): LayoutParts<S>;
  /** The plain handle of every part (for `postMessage`), without attaching or writing. */
  handles(buffer: SharedArrayBuffer, baseOffset?: number): LayoutHandles<S>;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * Packs several primitives into one SharedArrayBuffer, each at an offset aligned as its spec asks
 * (rings on their own 64-byte line), in the order the keys are given.
 *
 * ```ts
 * const l = layout({ lock: Mutex.spec(), ring: SpscRing.spec(1024), bell: Doorbell.spec(256) });
 * const { buffer, parts } = l.create();          // or: l.init(new SharedArrayBuffer(l.byteLength))
 * worker.postMessage({ buffer });                // worker: layout(sameSpecs).attach(buffer)
 * parts.lock.lock(); parts.ring.push(1); parts.bell.ring(3);
 * ```
 * @throws TypeError `ERR_INVALID_ARG` if `specs` is empty or holds something that is not a spec.
 */
export function layout<S extends LayoutSpecs>(specs: S): Layout<S> {
  if (specs === null || typeof specs !== 'object') {
    throw syncError(TypeError, 'ERR_INVALID_ARG', 'layout: expected an object of primitive specs');
  }
  const names = Object.keys(specs) as (keyof S & string)[];
  if (names.length === 0) {
    throw syncError(TypeError, 'ERR_INVALID_ARG', 'layout: expected at least one primitive spec');
  }
  const offsets = {} as { [K in keyof S]: number };
  let cursor = 0;
  let alignment = 4;
  for (const name of names) {
    const spec = specs[name] as PrimitiveSpec<unknown> | undefined;
    if (
      !spec ||
      typeof spec.attach !== 'function' ||
      typeof spec.init !== 'function' ||
      !Number.isInteger(spec.byteLength) ||
      !Number.isInteger(spec.alignment) ||
      spec.alignment <= 0 ||
      (spec.alignment & (spec.alignment - 1)) !== 0
    ) {
      throw syncError(
        TypeError,
        'ERR_INVALID_ARG',
        `layout: "${name}" is not a primitive spec; expected e.g. Mutex.spec() or SpscRing.spec(1024)`,
      );
    }
    cursor = alignUp(cursor, spec.alignment);
    offsets[name] = cursor;
    cursor += spec.byteLength;
    alignment = Math.max(alignment, spec.alignment);
  }
  const byteLength = alignUp(cursor, alignment);
  Object.freeze(offsets);

  const check = (buffer: SharedArrayBuffer, base: number): void => {
    assertShared(buffer, 'layout');
    assertOffset(base, alignment, 'layout');
    assertFits(buffer, base, byteLength, 'layout');
  };
  const each = (
    buffer: SharedArrayBuffer,
    base: number,
    f: (spec: PrimitiveSpec<unknown>, offset: number) => unknown,
  ): Record<string, unknown> => {
    check(buffer, base);
    const out: Record<string, unknown> = {};
    for (const name of names) out[name] = f(specs[name], base + offsets[name]);
    return out;
  };

  const l: Layout<S> = {
    byteLength,
    alignment,
    offsets,
    create() {
      const buffer = new SharedArrayBuffer(byteLength);
      return { buffer, parts: l.init(buffer) };
    },
    init: (buffer, base = 0) => each(buffer, base, (s, o) => s.init(buffer, o)) as LayoutParts<S>,
    attach: (buffer, base = 0) => each(buffer, base, (s, o) => s.attach(buffer, o)) as LayoutParts<S>,
    handles: (buffer, base = 0) =>
      each(buffer, base, (s, o) => (s.attach(buffer, o) as { handle: unknown }).handle) as LayoutHandles<S>,
  };
  return Object.freeze(l);
}
