import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Rng } from '../../core/rng.js'
import { sentences } from '../../core/search/edits.js'
import { ScenarioSchema, type Scenario } from '../../sim/scenario.js'
import { SimWorld, normalizeText } from '../../sim/world.js'
import { DEV_INSTANCES, FAMILIES, TEST_INSTANCES, familyScenario } from '../../bench/search/families.js'
import {
  PROMPT_PREAMBLE,
  exactAccuracy,
  exactOptimum,
  exampleKeys,
  promptFor,
  subsetCount,
} from '../../bench/search/optimum.js'

const MODEL = 'sim-standard'

/** The same scenario with a lower clause limit (small enough to enumerate quickly). */
const withLimit = (s: Scenario, maxClauses: number): Scenario =>
  ScenarioSchema.parse({ ...s, task: { ...s.task, maxClauses } })

/** Every set one edit away (add, remove or swap one clause) within the clause limit. */
function neighbours(s: Scenario, clauses: readonly string[]): string[][] {
  const all = s.clauses.map((c) => c.id)
  const absent = all.filter((id) => !clauses.includes(id))
  const out: string[][] = []
  if (clauses.length < s.task.maxClauses) for (const a of absent) out.push([...clauses, a])
  for (const r of clauses) {
    const rest = clauses.filter((c) => c !== r)
    out.push(rest)
    for (const a of absent) out.push([...rest, a])
  }
  return out
}

test('a family instance is a deterministic, valid scenario; instances differ', () => {
  assert.deepEqual(familyScenario('moderate', 3), familyScenario('moderate', 3))
  assert.deepEqual(familyScenario('hard', 1001), familyScenario('hard', 1001))
  assert.notDeepEqual(familyScenario('moderate', 3).clusters, familyScenario('moderate', 4).clusters)
  assert.notEqual(familyScenario('hard', 0).seed, familyScenario('hard', 1).seed)
  assert.equal(familyScenario('moderate', 2, { fidelity: 0 }).feedback.fidelity, 0)
  assert.equal(familyScenario('moderate', 2).feedback.fidelity, 0.7)
  assert.deepEqual(familyScenario('moderate', 2, { fidelity: 0.3 }).clusters, familyScenario('moderate', 2).clusters)
  assert.equal(new Set([...DEV_INSTANCES, ...TEST_INSTANCES]).size, DEV_INSTANCES.length + TEST_INSTANCES.length)
  assert.ok(DEV_INSTANCES.length >= 10 && TEST_INSTANCES.length >= 30)
})

test('both families validate and have the intended structure', () => {
  for (const family of FAMILIES) {
    for (const instance of [0, 1, 2, 1000]) {
      const s = familyScenario(family, instance)
      assert.doesNotThrow(() => ScenarioSchema.parse(s))
      const where = `${family} ${instance}`
      assert.equal(s.clusters.length, family === 'moderate' ? 4 : 6, where)
      assert.equal(s.task.maxClauses, family === 'moderate' ? 10 : 8, where)
      assert.equal(s.effects.requirementWeight, family === 'moderate' ? 1.8 : 1.3, where)
      assert.ok(s.clauses.length >= 16 && s.clauses.length <= 24, `${where}: ${s.clauses.length} clauses`)
      assert.deepEqual(
        s.models.map((m) => [m.id, m.ability, m.errorRate]),
        [['sim-standard', 0, 0]],
      )
      assert.deepEqual(s.effects.length, { freeClauses: 5, costPerClause: 0.08 })
      for (const c of s.clusters)
        assert.ok(
          c.requirements.length >= 3 &&
            c.requirements.length <= 5 &&
            new Set(c.requirements).size === c.requirements.length,
          where,
        )
      for (const c of s.clauses) {
        assert.equal(c.paraphrases.length, 2, c.id)
        assert.ok(c.feedback && c.feedback.length > 20, c.id)
      }
      // Feedback strings are distinct, so each names exactly one cause.
      const feedback = [...s.clauses.map((c) => c.feedback), ...s.effects.conflicts.map((c) => c.feedback)]
      assert.equal(new Set(feedback).size, feedback.length, where)
      if (family === 'moderate') {
        assert.equal(s.effects.synergies.length, 0)
        assert.ok(s.effects.conflicts.length <= 1)
      } else {
        assert.ok(s.effects.conflicts.length >= 2)
        assert.ok(s.effects.synergies.length >= 1)
        for (const p of s.effects.synergies) assert.deepEqual([p.alone, p.together], [-0.25, 1.1])
        for (const k of s.effects.conflicts)
          assert.ok(k.helps.length === 1 && k.hurts.length >= 1 && !k.hurts.includes(k.helps[0] as string))
      }
      // The seed prompt: a preamble and the paraphrases of 1–2 clauses.
      const world = new SimWorld(s)
      const seed = world.parseClauses(s.task.prompt.system)
      assert.ok(seed.length >= 1 && seed.length <= 2, `${where}: seed clauses ${seed}`)
      assert.equal(s.task.prompt.system, promptFor(s, seed))
    }
  }
})

test('paraphrases are single sentences and none contains another, so prompts parse back exactly', () => {
  const seen = new Map<string, string>()
  for (const family of FAMILIES)
    for (const i of DEV_INSTANCES.slice(0, 5))
      for (const c of familyScenario(family, i).clauses) for (const p of c.paraphrases) seen.set(p, c.id)
  assert.ok(seen.size >= 50)
  for (const [p, id] of seen) {
    assert.equal(sentences(p).length, 1, p)
    for (const [q, other] of seen)
      if (id !== other)
        assert.ok(!normalizeText(q).includes(normalizeText(p)), `"${p}" (${id}) is inside "${q}" (${other})`)
  }
  const s = familyScenario('hard', 2)
  const world = new SimWorld(s)
  const ids = s.clauses.map((c) => c.id)
  const rng = Rng.fromSeed('search-bench-test')
  const sets = [
    [],
    ids,
    ids.slice().reverse(),
    ...Array.from({ length: 40 }, () => rng.sample(ids, 1 + rng.int(ids.length))),
  ]
  for (const set of sets) {
    const text = promptFor(s, set)
    assert.deepEqual([...world.parseClauses(text)].sort(), [...set].sort())
    assert.equal(sentences(text).length, set.length + 1)
    assert.ok(text.startsWith(PROMPT_PREAMBLE))
  }
  assert.throws(() => promptFor(s, ['no-such-clause']), /unknown clause/)
})

test('example keys are deterministic and disjoint across splits', () => {
  const s = familyScenario('moderate', 0)
  assert.deepEqual(exampleKeys(s, 'test', 5), exampleKeys(s, 'test', 5))
  const all = (['train', 'validation', 'holdout', 'test'] as const).flatMap((split) => exampleKeys(s, split, 200))
  assert.equal(new Set(all).size, all.length)
})

test('exactAccuracy equals the mean of world.probability exactly', () => {
  for (const family of FAMILIES) {
    const base = familyScenario(family, 1)
    // a second model tier checks that the model's ability enters the same way
    const s = ScenarioSchema.parse({
      ...base,
      models: [
        ...base.models,
        { id: 'sim-large', ability: 0.8, latencyMs: { median: 2000 }, price: { inputPerMTok: 3, outputPerMTok: 15 } },
      ],
    })
    const world = new SimWorld(s)
    const keys = exampleKeys(s, 'validation', 300)
    const ids = s.clauses.map((c) => c.id)
    const rng = Rng.fromSeed('exact-accuracy', family)
    const sets = [
      [],
      world.parseClauses(s.task.prompt.system),
      ids, // beyond the clause limit: still a valid input
      [ids[3], ids[1], ids[3], ids[0]] as string[], // order and duplicates as given
      [ids[2], 'not-a-clause'] as string[], // unknown ids count, as in SimWorld.logit
      ...Array.from({ length: 8 }, () => rng.sample(ids, 1 + rng.int(s.task.maxClauses))),
    ]
    for (const model of ['sim-standard', 'sim-large']) {
      for (const set of sets) {
        let direct = 0
        for (const k of keys) direct += world.probability(world.example(k), set, model)
        assert.equal(exactAccuracy(world, set, keys, model), direct / keys.length, `${family} ${model} [${set}]`)
      }
    }
    // a new array with the same keys gives the same value
    assert.equal(exactAccuracy(world, ids.slice(0, 4), [...keys]), exactAccuracy(world, ids.slice(0, 4), keys))
  }
})

test('seed and optimum land in the intended ranges; the optimum beats every one-edit neighbour', () => {
  const observed: string[] = []
  for (const family of FAMILIES) {
    for (const instance of DEV_INSTANCES.slice(0, 2)) {
      const s = familyScenario(family, instance)
      const world = new SimWorld(s)
      const keys = exampleKeys(s, 'test', 1500)
      const seed = exactAccuracy(world, world.parseClauses(s.task.prompt.system), keys)
      // multistart here for speed: the test below and the benchmark's own runs check it against enumeration
      const opt = exactOptimum(world, keys, MODEL, { method: 'multistart' })
      observed.push(
        `${family} ${instance}: seed ${seed.toFixed(3)}, optimum ${opt.accuracy.toFixed(3)} ` +
          `(${opt.clauses.length} clauses)`,
      )
      assert.ok(seed > 0.28 && seed < 0.42, observed.at(-1))
      if (family === 'moderate') assert.ok(opt.accuracy > 0.7 && opt.accuracy < 0.9, observed.at(-1))
      else assert.ok(opt.accuracy > 0.6 && opt.accuracy < 0.85, observed.at(-1))
      assert.ok(opt.clauses.length <= s.task.maxClauses)
      assert.deepEqual(opt.clauses, world.parseClauses(promptFor(s, opt.clauses)), 'clauses come in scenario order')
      assert.equal(opt.accuracy, exactAccuracy(world, world.parseClauses(promptFor(s, opt.clauses)), keys))
      for (const n of neighbours(s, opt.clauses))
        assert.ok(
          exactAccuracy(world, n, keys) <= opt.accuracy + 1e-12,
          `${family} ${instance}: [${n}] beats the optimum`,
        )
    }
  }
  process.stderr.write(`${observed.join('\n')}\n`)
})

test('enumeration and multistart find the same optimum', () => {
  const cases: Array<[Scenario, number]> = [
    [withLimit(familyScenario('hard', 0), 4), 400],
    [withLimit(familyScenario('hard', 5), 3), 400],
    [withLimit(familyScenario('moderate', 1), 4), 400],
    [familyScenario('moderate', 0), 300],
  ]
  for (const [s, n] of cases) {
    const world = new SimWorld(s)
    const keys = exampleKeys(s, 'test', n)
    const e = exactOptimum(world, keys, MODEL, { method: 'enumeration' })
    const m = exactOptimum(world, keys, MODEL, { method: 'multistart' })
    assert.equal(e.method, 'enumeration')
    assert.equal(m.method, 'multistart')
    assert.ok(e.evaluations >= subsetCount(s.clauses.length, s.task.maxClauses))
    assert.deepEqual(m.clauses, e.clauses, s.id)
    assert.equal(m.accuracy, e.accuracy)
    assert.equal(exactOptimum(world, keys).method, 'enumeration', 'auto enumerates small spaces')
    // the enumerated optimum really is the best: no subset in a sample does better
    const rng = Rng.fromSeed('enumeration-check', s.id)
    const ids = s.clauses.map((c) => c.id)
    for (let i = 0; i < 100; i++)
      assert.ok(exactAccuracy(world, rng.sample(ids, 1 + rng.int(s.task.maxClauses)), keys) <= e.accuracy + 1e-12)
  }
  assert.equal(subsetCount(18, 10), 199_140)
  assert.equal(subsetCount(4, 10), 16)
  assert.equal(
    exactOptimum(new SimWorld(familyScenario('hard', 0)), exampleKeys(familyScenario('hard', 0), 'test', 50), MODEL, {
      maxSubsets: 1000,
    }).method,
    'multistart',
  )
})
