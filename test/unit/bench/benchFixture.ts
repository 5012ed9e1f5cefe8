// bench.json as the README section reads it, for the tests of scripts/benchSection.mjs: a 2-core
// machine on 2026-12-01, with the rows and goals each test gives.
export function benchJson<R, G>(rows: R[], goals: G[]) {
  return {
    date: '2026-12-01T10:00:00.000Z',
    profile: 'workstation',
    timeScale: 10,
    runs: 3,
    naiveRuns: 1,
    machine: { cpus: 2, model: 'AMD EPYC 7B13', memoryGb: 24, loadAverage: { before: 0.4, after: 1.9 } },
    rows,
    goals,
  };
}
