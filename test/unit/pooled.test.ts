import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Rng } from '../../core/rng.js'
import { pooledEstimates, sentenceKeys, type PooledObservation } from '../../core/search/pooled.js'

// A small additive world: a base prompt plus any subset of four sentences, each with a known effect.
const EFFECTS: Record<string, number> = {
  'Name the service.': 0.12,
  'Be vague.': -0.08,
  'Give commands.': 0.09,
  'Be polite.': 0,
}
const SENTENCES = Object.keys(EFFECTS)
const candidates = Array.from({ length: 16 }, (_, mask) => {
  const parts = SENTENCES.filter((_, i) => mask & (1 << i))
  return {
    id: `c${mask}`,
    system: ['Triage the incident.', ...parts].join(' '),
    truth: 0.4 + parts.reduce((s, p) => s + (EFFECTS[p] as number), 0),
  }
})
const features = new Map(candidates.map((c) => [c.id, sentenceKeys(c.system)]))
const items = Array.from({ length: 40 }, (_, i) => ({ id: `i${i}`, offset: ((i % 5) - 2) * 0.08 }))

test('sentenceKeys: normalised, unique sentences', () => {
  assert.deepEqual(sentenceKeys('Name the service.  name the SERVICE! Give commands?'), [
    'name the service',
    'give commands',
  ])
})

test('pooled estimates: noiseless additive scores are recovered exactly (no ridge)', () => {
  const obs: PooledObservation[] = []
  // Partial evaluations too: candidate k sees only some items.
  for (const [k, c] of candidates.entries())
    for (const it of items.slice(0, 20 + (k % 3) * 10))
      obs.push({ candidate: c.id, item: it.id, score: c.truth + it.offset })
  const est = pooledEstimates(features, obs, { ridge: 0, residualPrior: 1e9, sweeps: 200 })
  for (const c of candidates)
    assert.ok(Math.abs((est.get(c.id) as number) - c.truth) < 1e-6, `${c.id}: ${est.get(c.id)} vs ${c.truth}`)
})

test('pooled estimates beat each candidate’s own mean on noisy pass/fail scores, and pick a better winner', () => {
  const rng = Rng.fromSeed('pooled')
  let ownError = 0
  let pooledError = 0
  let ownPickTruth = 0
  let pooledPickTruth = 0
  const reps = 40
  for (let rep = 0; rep < reps; rep++) {
    const obs: PooledObservation[] = []
    const own = new Map<string, number>()
    for (const c of candidates) {
      let s = 0
      for (const it of items) {
        const y = rng.float() < c.truth + it.offset ? 1 : 0
        s += y
        obs.push({ candidate: c.id, item: it.id, score: y })
      }
      own.set(c.id, s / items.length)
    }
    const est = pooledEstimates(features, obs)
    for (const c of candidates) {
      ownError += ((own.get(c.id) as number) - c.truth) ** 2
      pooledError += ((est.get(c.id) as number) - c.truth) ** 2
    }
    const best = (m: Map<string, number>) =>
      candidates.reduce((b, c) => ((m.get(c.id) as number) > (m.get(b.id) as number) ? c : b))
    ownPickTruth += best(own).truth
    pooledPickTruth += best(est).truth
  }
  assert.ok(pooledError < ownError / 2, `pooled squared error ${pooledError.toFixed(3)} vs own ${ownError.toFixed(3)}`)
  assert.ok(
    pooledPickTruth / reps > ownPickTruth / reps,
    `true accuracy of the pick: pooled ${(pooledPickTruth / reps).toFixed(3)} vs own ` +
      `${(ownPickTruth / reps).toFixed(3)}`,
  )
})

test(`pooled estimates: a sentence every candidate shares is part of the intercept; \
unknown candidates are skipped`, () => {
  const est = pooledEstimates(
    new Map([
      ['a', ['x']],
      ['b', ['x']],
    ]),
    [
      { candidate: 'a', item: 'i1', score: 1 },
      { candidate: 'b', item: 'i1', score: 0 },
      { candidate: 'zzz', item: 'i1', score: 1 },
    ],
  )
  assert.deepEqual([...est.keys()].sort(), ['a', 'b'])
  assert.ok((est.get('a') as number) > (est.get('b') as number))
})

/**
 * In-memory search ports on the incident-triage world, with the seed prompt scored on validation as the pool's first
 * candidate.
 */
async function seededPorts(seed: string) {
  const { join } = await import('node:path')
  const { REPO_ROOT } = await import('../../runtime/env.js')
  const { loadScenarioFile } = await import('../../sim/scenario.js')
  const { SimWorld } = await import('../../sim/world.js')
  const { memoryPorts } = await import('../helpers/memory-search.js')
  const world = new SimWorld(await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml')))
  const ports = memoryPorts(world, { seed, budget: 600, train: 40, validation: 20 })
  const prompt = world.scenario.task.prompt
  const v = await ports.evaluate(prompt, ports.validationIds)
  ports.pool.push({
    id: 'seed',
    content: prompt,
    parentIds: [],
    operator: 'seed',
    status: 'seed',
    validationMean: v.reduce((s, x) => s + (x.score ?? 0), 0) / v.length,
  })
  return ports
}

test(`runRound with pooling: every scored candidate gets an estimate, at no \
rollout cost; without it, none`, async () => {
  const { STRATEGIES, runRound } = await import('../../core/search/strategies.js')
  const { reestimate } = await import('../../core/search/pooled.js')
  const { DEFAULT_STRATEGY_SETTINGS, incumbent, rankScore } = await import('../../core/search/types.js')
  for (const pooled of [true, false]) {
    const ports = await seededPorts('pooled-round')
    for (let r = 0; r < 4; r++)
      await runRound(STRATEGIES.beam, ports.pool, { ...DEFAULT_STRATEGY_SETTINGS, pooled }, ports)
    const scored = ports.pool.filter((c) => c.status !== 'rejected' && c.validationMean !== null)
    assert.ok(scored.length >= 2, 'the search accepted candidates')
    if (pooled) {
      assert.ok(
        scored.every((c) => typeof c.estimate === 'number'),
        'every scored candidate has a pooled estimate',
      )
      assert.equal(
        incumbent(ports.pool)?.id,
        [...scored].sort((a, b) => (rankScore(b) as number) - (rankScore(a) as number))[0]?.id,
      )
      const before = ports.rollouts()
      for (const c of scored) c.estimate = null
      await reestimate(ports.pool, ports) // same pool, nothing new: the memoised fit is kept (estimates stay cleared)
      assert.ok(scored.every((c) => c.estimate === null))
      await reestimate([...ports.pool], ports)
      assert.ok(scored.every((c) => typeof c.estimate === 'number'))
      assert.equal(ports.rollouts(), before, 'pooling reads known scores only')
    } else assert.ok(scored.every((c) => c.estimate === undefined))
  }
})

test(`runRound ranks parents on the evidence as of the round start (a retried round chooses as its first attempt \
did), and the incumbent on all of it`, async () => {
  const { STRATEGIES, runRound } = await import('../../core/search/strategies.js')
  const { DEFAULT_STRATEGY_SETTINGS } = await import('../../core/search/types.js')
  const ports = await seededPorts('pooled-as-of')
  const seen: boolean[] = []
  const known = ports.knownScores!.bind(ports)
  ports.knownScores = (content, ids, options) => {
    seen.push(options?.asOfRoundStart === true)
    return known(content, ids, options)
  }
  await runRound(STRATEGIES.beam, ports.pool, { ...DEFAULT_STRATEGY_SETTINGS, pooled: true }, ports)
  assert.equal(seen[0], true, 'the pre-round fit asks for evidence as of the round start')
  assert.equal(seen.at(-1), false, 'the post-round fit uses everything paid for')
})
