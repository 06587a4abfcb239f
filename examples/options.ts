/**
 * Command-line options shared by the examples: `--name value`, or the
 * environment variable NAME (`--port 9200` or `PORT=9200`). A bad value
 * ends the program with a message and exit status 2.
 */

/** The text of `--name` (or NAME in the environment), if given. */
export function textOption(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : process.env[name.toUpperCase()];
}

/** A number option from `min` to `max`; whole numbers only unless `fractions`. */
export function option(name: string, fallback: number, { min = 0, max = 2 ** 31 - 1, fractions = false } = {}): number {
  const text = textOption(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || (!fractions && !Number.isInteger(value)) || value < min || value > max) {
    console.error(`--${name} wants ${fractions ? 'a number' : 'a whole number'} from ${min} to ${max}, got '${text}'`);
    process.exit(2);
  }
  return value;
}

/** The TCP port: --port or PORT, 9093 by default (the original program's). */
export function portOption(): number {
  return option('port', 9093, { max: 65535 });
}
