/**
 * The prefork server: a master that forks workers sharing listening
 * sockets and a preloaded application, supervised with Unicorn's and
 * gunicorn's signals. docs/prefork.md.
 */
export { PreforkServer, memoryOf, OLD_MASTER_ENV } from './master.ts';
export type { PreforkOptions, WorkerInfo, WorkerStatus } from './master.ts';
export { defineWorker, loadApp } from './app.ts';
export type { AppModule, PreforkApp, WorkerFunction } from './app.ts';
export type { WorkerContext } from './worker.ts';
export { INHERITED_FDS_ENV, ListenError, parseListen, systemdFds } from './listeners.ts';
export type { ListenSpec } from './listeners.ts';
