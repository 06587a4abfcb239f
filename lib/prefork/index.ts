/**
 * The prefork server: a master that forks workers sharing listening
 * sockets and a preloaded application, supervised with Unicorn's and
 * gunicorn's signals. docs/prefork.md.
 */
export { PreforkServer, memoryOf, OLD_MASTER_ENV } from './master';
export type { PreforkOptions, WorkerInfo, WorkerStatus } from './master';
export { defineWorker, loadApp } from './app';
export type { AppModule, PreforkApp, WorkerFunction } from './app';
export type { WorkerContext } from './worker';
export { INHERITED_FDS_ENV, parseListen, systemdFds } from './listeners';
export type { ListenSpec } from './listeners';
