/**
 * Each worker's slot on the scoreboard: a small file, unlinked at once, that
 * the worker writes and the master reads. It carries the heartbeat (the
 * last time the worker's event loop turned), the requests served, and the
 * worker's state. gunicorn's workers touch a temporary file for the same
 * purpose and its arbiter reads the file's mtime; Unicorn's share a memory
 * page.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What a worker reports. */
export const WorkerState = {
  Starting: 0,
  Ready: 1,
  /** Stopping by its own decision (maxRequests): the master replaces it without counting a failure. */
  Recycling: 2,
  Stopping: 3,
} as const;
/** One of {@link WorkerState}'s values. */
export type WorkerState = (typeof WorkerState)[keyof typeof WorkerState];

const FIELDS = 4; // beat (ms since the epoch), requests, state, ready time (ms since the epoch, 0: not yet)
const SIZE = FIELDS * 8;

/** The worker's view: it writes. */
export interface Report {
  beatMs: number;
  requests: number;
  state: WorkerState;
  /** When the worker began to accept (ms since the epoch), 0 before. */
  readyMs: number;
}

/** A scoreboard slot: one open fd on an unlinked file. */
export class Slot {
  private readonly buf = Buffer.alloc(SIZE);
  private readonly values = new Float64Array(this.buf.buffer, this.buf.byteOffset, FIELDS);

  readonly fd: number;
  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Creates a slot in /dev/shm (or the temporary directory) and unlinks its name at once. */
  static create(): Slot {
    const dir = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const file = path.join(dir, `what-the-fork-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const fd = fs.openSync(file, 'w+', 0o600);
    fs.unlinkSync(file);
    const slot = new Slot(fd);
    slot.write({ beatMs: Date.now(), requests: 0, state: WorkerState.Starting, readyMs: 0 });
    return slot;
  }

  /** pwrite(2) of the whole record: one system call, never a torn read of a field. */
  write(r: Report): void {
    this.values[0] = r.beatMs;
    this.values[1] = r.requests;
    this.values[2] = r.state;
    this.values[3] = r.readyMs;
    fs.writeSync(this.fd, this.buf, 0, SIZE, 0);
  }

  /** pread(2) of the record. */
  read(): Report {
    const buf = Buffer.alloc(SIZE);
    fs.readSync(this.fd, buf, 0, SIZE, 0);
    const v = new Float64Array(buf.buffer, buf.byteOffset, FIELDS);
    return { beatMs: v[0], requests: v[1], state: v[2] as WorkerState, readyMs: v[3] };
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
