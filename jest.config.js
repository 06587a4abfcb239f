/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Tests that fork, signal or load the machine run their work in
  // subprocess fixtures; generous timeouts keep a slow shared machine green.
  testTimeout: 120000,
  // One suite at a time: several suites assert how soon a signal interrupts
  // a blocking call, and a fork-heavy suite running beside them on a
  // 2-core machine can delay delivery past their bounds.
  maxWorkers: 1,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Sources import each other as './x.ts' (Node runs them as written), which
  // the compiler rewrites to './x.js': find the .ts file behind it.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
};
