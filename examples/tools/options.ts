/**
 * Command-line options shared by the examples. Each program declares what
 * it takes with {@link declareOptions}: options with a value (`--port 9200`
 * or `--port=9200`) and switches (`--quiet`). The port may also come from
 * the environment variable PORT, as in many servers. An unknown option, a
 * missing value or a bad number ends the program with a message and exit
 * status 2; `--help` prints what the program takes and exits.
 */
import * as net from 'node:net';
import * as path from 'node:path';

export interface OptionsSpec {
  /** One line on what the program does. */
  about: string;
  /** Options with a value: name → what it means (and its default). */
  values?: Record<string, string>;
  /** Switches: name → what it turns on. */
  switches?: Record<string, string>;
}

const values = new Map<string, string>();
const switches = new Set<string>();
let declared: OptionsSpec | undefined;

function fail(message: string): never {
  console.error(`${message} (--help lists the options)`);
  process.exit(2);
}

function usage(spec: OptionsSpec): string {
  const rows = [
    ...Object.entries(spec.values ?? {}).map(([n, d]) => [`--${n} VALUE`, d]),
    ...Object.entries(spec.switches ?? {}).map(([n, d]) => [`--${n}`, d]),
  ];
  const width = Math.max(...rows.map(([l]) => l.length), 6);
  const program = path.relative(process.cwd(), process.argv[1] ?? 'program');
  return [
    `${spec.about}`,
    `usage: node ${program} [options]`,
    ...rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`),
    `  ${'--help'.padEnd(width)}  print this and exit`,
  ].join('\n');
}

/** Reads the command line against what the program takes; call it once, first. */
export function declareOptions(spec: OptionsSpec): void {
  declared = spec;
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') {
      console.log(usage(spec));
      process.exit(0);
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) fail(`unexpected argument '${arg}'`);
    const [, name, inline] = m;
    if (spec.switches && Object.hasOwn(spec.switches, name)) {
      if (inline !== undefined) fail(`--${name} takes no value`);
      switches.add(name);
    } else if (spec.values && Object.hasOwn(spec.values, name)) {
      const value = inline ?? args[++i];
      if (value === undefined || (inline === undefined && value.startsWith('--'))) fail(`--${name} needs a value`);
      values.set(name, value);
    } else {
      fail(`unknown option --${name}`);
    }
  }
}

function checkDeclared(name: string, kind: 'values' | 'switches'): void {
  if (!declared?.[kind] || !Object.hasOwn(declared[kind]!, name)) {
    throw new Error(`examples/tools/options: --${name} was not declared with declareOptions()`);
  }
}

/** The text given for `--name`, if any (for the port, PORT counts too). */
export function textOption(name: string): string | undefined {
  checkDeclared(name, 'values');
  return values.get(name) ?? (name === 'port' ? process.env.PORT || undefined : undefined);
}

/** Whether the switch `--name` was given. */
export function switchOption(name: string): boolean {
  checkDeclared(name, 'switches');
  return switches.has(name);
}

/** A number option from `min` to `max`; whole numbers only unless `fractions`. */
export function option(name: string, fallback: number, { min = 0, max = 2 ** 31 - 1, fractions = false } = {}): number {
  const text = textOption(name);
  if (text === undefined) return fallback;
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value) || (!fractions && !Number.isInteger(value)) || value < min || value > max) {
    const source = values.has(name) ? `--${name}` : 'PORT (environment)';
    fail(`${source} wants ${fractions ? 'a number' : 'a whole number'} from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

/** The TCP port: --port or PORT, 9093 by default (the original program's). */
export function portOption(): number {
  return option('port', 9093, { max: 65535 });
}

/** What `--port` means, for {@link declareOptions}. */
export const PORT_HELP = 'TCP port to listen on (default 9093; or PORT in the environment; 0: any free port)';

/** What `--host` means, for {@link declareOptions}. */
export const HOST_HELP =
  'IPv4 or IPv6 address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 or :: for every interface)';

/**
 * The address to listen on, --host, 127.0.0.1 by default (a lesson is not
 * a service for the network), and the address family it belongs to.
 */
export function hostOption(): { host: string; domain: 'AF_INET' | 'AF_INET6' } {
  const host = textOption('host') ?? '127.0.0.1';
  const version = net.isIP(host);
  if (version === 0) fail(`--host wants an IPv4 or IPv6 address, got '${host}'`);
  return { host, domain: version === 6 ? 'AF_INET6' : 'AF_INET' };
}
