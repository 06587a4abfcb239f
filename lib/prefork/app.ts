/**
 * What a prefork server runs: a node:http request listener, or a worker
 * function that gets the listening sockets and serves any protocol.
 */
import type * as http from 'node:http';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WorkerContext } from './worker.ts';
import { ArgTypeError } from '../validate.ts';

/** A worker function: it gets the worker's context and serves (usually with `ctx.serve(server)`). */
export type WorkerFunction = ((ctx: WorkerContext) => void | Promise<void>) & { readonly preforkWorker?: true };

/** Either kind of application. */
export type PreforkApp = http.RequestListener | WorkerFunction;

/**
 * Marks a function as a worker function, so the command does not take it
 * for a request listener: `export default defineWorker((ctx) => ...)`.
 * Never throws for a function; TypeError otherwise.
 * Teaches: after fork(2) the worker owns an inherited listening fd and may
 * serve any protocol on it.
 * @typeParam F - the function's own type, kept so its callers stay typed
 */
export function defineWorker<F extends (ctx: WorkerContext) => void | Promise<void>>(
  fn: F,
): F & { preforkWorker: true } {
  if (typeof fn !== 'function') throw new ArgTypeError('defineWorker() takes a function');
  return Object.assign(fn, { preforkWorker: true as const });
}

/** True for a function marked by {@link defineWorker}. */
export function isWorkerFunction(app: PreforkApp): app is WorkerFunction {
  return (app as WorkerFunction).preforkWorker === true;
}

/** The hooks an application module may export by name beside its default export. */
export interface AppModule {
  app: PreforkApp;
  beforeFork?: unknown;
  afterFork?: unknown;
  workerExit?: unknown;
}

// A real import(), which TypeScript would otherwise turn into require() in
// the CommonJS build; ES modules need it.
const importModule = new Function('specifier', 'return import(specifier)') as (
  s: string,
) => Promise<Record<string, unknown>>;

/** Marks an error the application's import threw (for the command, which prints its stack). */
export const THROWN_BY_APP = Symbol('what-the-fork: thrown by the app');

/**
 * Imports an application module: its default export (or `module.exports`),
 * or a named `worker` function; the hooks by name.
 * @throws TypeError when the module exports neither a function nor `worker`;
 *   whatever the import threw, marked with the THROWN_BY_APP symbol
 */

export async function loadApp(file: string): Promise<AppModule> {
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(pathToFileURL(path.resolve(file)).href);
  } catch (err) {
    // What the application's own code threw (or a module it could not
    // find): the command prints its stack, which points into the app.
    if (err instanceof Error) Object.defineProperty(err, THROWN_BY_APP, { value: true });
    throw err;
  }
  const def = mod.default as Record<string, unknown> | ((...a: unknown[]) => unknown) | undefined;
  // A CommonJS module compiled from `export default` arrives as { default: fn, ... }.
  const pick = (name: string): unknown => mod[name] ?? (def && typeof def === 'object' ? def[name] : undefined);
  let app: unknown = typeof def === 'function' ? def : def && typeof def === 'object' ? def.default : undefined;
  const worker = pick('worker');
  if (typeof worker === 'function') app = defineWorker(worker as WorkerFunction);
  if (typeof app !== 'function')
    throw new ArgTypeError(
      `${file}: the default export must be a request listener (req, res) or a worker function (defineWorker), or the module must export a function named worker`,
    );
  return {
    app: app as PreforkApp,
    beforeFork: pick('beforeFork'),
    afterFork: pick('afterFork'),
    workerExit: pick('workerExit'),
  };
}
