/**
 * Where things are, seen from the compiled harness (test/vm/dist/src/*.js), and loading of the
 * workspace's own packages by path. test/package.json declares no workspace dependencies (adding them
 * would change the lockfile), so @virq/* are imported from their built dist/ by absolute path, and
 * typed here by the few members the harness uses.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** test/vm (the harness's source folder). */
export const VM_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The repository root. */
export const REPO_ROOT = join(VM_DIR, '..', '..');
/** test/vm/vm.sh. */
export const VM_SH = join(VM_DIR, 'vm.sh');

/** The entry point of a workspace package's build, e.g. packages/core/dist/src/index.js. */
export function packageEntry(name: 'core' | 'pci' | 'native' | 'dispatch' | 'virq'): string {
  return join(REPO_ROOT, 'packages', name, 'dist', 'src', 'index.js');
}

/** Imports a workspace package's build; `{ ok: false, reason }` when it is not built or fails to load. */
export async function importPackage<T>(
  name: 'core' | 'pci' | 'native' | 'dispatch' | 'virq',
): Promise<{ ok: true; mod: T } | { ok: false; reason: string }> {
  const entry = packageEntry(name);
  if (!existsSync(entry)) return { ok: false, reason: `${entry} does not exist (package not built?)` };
  try {
    return { ok: true, mod: (await import(pathToFileURL(entry).href)) as T };
  } catch (err) {
    return { ok: false, reason: `importing ${entry} failed: ${(err as Error).message}` };
  }
}
