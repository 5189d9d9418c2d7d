/**
 * The searchRound activity's input: the current shape (the parsed `search` config in one field)
 * and the flat shape of running campaigns and recorded histories give the same settings, which
 * are the settings the flat shape always gave.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { CampaignConfig, type CampaignConfigInput } from '../../core/config.js'
import { isKaizenError } from '../../core/errors.js'
import { strategySettings } from '../../core/search/settings.js'
import { DEFAULT_STRATEGY_SETTINGS, type StrategySettings } from '../../core/search/types.js'
import { parseSearchRoundInput, type LegacySearchRoundInput } from '../../activities/search-round-input.js'

const ids = {
  campaignId: 'c1',
  round: 2,
  seed: 's',
  datasetId: 'ds_c1',
  graderVersionId: 'gv_1',
  scenarioId: 'incident-triage',
}

/** The flat input exactly as the workflow built it before `search` was sent whole. */
function legacyInput(config: CampaignConfig): LegacySearchRoundInput {
  return {
    ...ids,
    proposals: config.search.proposalsPerRound,
    minibatchSize: config.search.minibatchSize,
    rolloutBudget: config.search.rolloutBudget,
    budgetUsd: config.search.budgetUsd ?? null,
    ...(config.search.strategy !== 'reflective' ? { strategy: config.search.strategy } : {}),
    ...(config.search.beamWidth ? { beamWidth: config.search.beamWidth } : {}),
    ...(config.search.population ? { population: config.search.population } : {}),
    ...(config.search.mergeEvery !== undefined ? { mergeEvery: config.search.mergeEvery } : {}),
    ...(config.search.proposerModel ? { proposerModel: config.search.proposerModel } : {}),
    ...(config.search.selection === 'pooled' ? { pooled: true } : {}),
    ...(config.search.maxSentences ? { maxSentences: config.search.maxSentences } : {}),
    ...(config.search.maxPromptTokens ? { maxPromptTokens: config.search.maxPromptTokens } : {}),
  }
}

/** The settings the activity derived from the flat input before the search settings moved to core/search. */
function settingsBefore(input: LegacySearchRoundInput): StrategySettings {
  return {
    ...DEFAULT_STRATEGY_SETTINGS,
    proposals: input.proposals,
    minibatchSize: input.minibatchSize,
    ...(input.beamWidth ? { beamWidth: input.beamWidth } : {}),
    ...(input.population ? { population: input.population } : {}),
    ...(input.mergeEvery !== undefined ? { mergeEvery: input.mergeEvery } : {}),
    pooled: input.pooled === true,
  }
}

const configs: Array<CampaignConfigInput['search']> = [
  {},
  { selection: 'own' },
  { strategy: 'beam', beamWidth: 5, proposalsPerRound: 6, minibatchSize: 8 },
  { strategy: 'evolution', population: 12, selection: 'own', rolloutBudget: 500 },
  { strategy: 'gepa', mergeEvery: 0 },
  { strategy: 'gepa-race', mergeEvery: 3, budgetUsd: 2.5 },
  { strategy: 'fewshot', proposerModel: 'gpt-4.1', maxSentences: 9, maxPromptTokens: 400 },
  { strategy: 'hill-climb', proposerModel: 'claude-sonnet-4', budgetUsd: 10, selection: 'own', rounds: 3 },
]

test('the current and the flat input give the same round settings, the ones the flat input always gave', () => {
  for (const search of configs) {
    const config = CampaignConfig.parse({ search })
    const legacy = legacyInput(config)
    const current = parseSearchRoundInput({ ...ids, search: config.search })
    assert.deepEqual(current, parseSearchRoundInput(legacy), JSON.stringify(search))
    assert.deepEqual(current.settings, strategySettings(config.search))
    assert.deepEqual(current.settings, settingsBefore(legacy), JSON.stringify(search))
    assert.equal(current.strategy, config.search.strategy)
    assert.equal(current.rolloutBudget, config.search.rolloutBudget)
    assert.equal(current.budgetUsd, config.search.budgetUsd ?? null)
    assert.equal(current.proposerModel, config.search.proposerModel ?? null)
    // Fan-out settings and a chunk's budget stop pass through either shape.
    const extra = { fanOut: { minItems: 8, chunkItems: 4 }, budgetExhausted: 'spent' }
    assert.deepEqual(
      parseSearchRoundInput({ ...ids, search: config.search, ...extra }),
      parseSearchRoundInput({ ...legacy, ...extra }),
    )
  }
})

test('the default search config gives the default strategy settings', () => {
  assert.deepEqual(strategySettings(CampaignConfig.parse({}).search), DEFAULT_STRATEGY_SETTINGS)
})

test("search.design sets the designed strategy's settings; each unset one keeps its default", () => {
  const config = CampaignConfig.parse({
    search: { strategy: 'designed', design: { harvest: 50, designRollouts: 800 } },
  })
  const { settings } = parseSearchRoundInput({ ...ids, search: config.search })
  assert.deepEqual(settings, { ...DEFAULT_STRATEGY_SETTINGS, harvest: 50, designRollouts: 800 })
  assert.throws(
    () => CampaignConfig.parse({ search: { design: { designItems: 0 } } }),
    /search[\s\S]*design[\s\S]*designItems/,
  )
})

test('every searchRound input in the recorded histories is accepted, in the flat and the current shape', () => {
  const dir = join(import.meta.dirname, '..', 'histories')
  const seen = { flat: 0, current: 0 }
  for (const file of readdirSync(dir).filter((f) => f.startsWith('campaign') && f.endsWith('.json'))) {
    const history = JSON.parse(readFileSync(join(dir, file), 'utf8'))
    for (const event of history.events) {
      const scheduled = event.activityTaskScheduledEventAttributes
      if (scheduled?.activityType.name !== 'searchRound') continue
      const input = JSON.parse(Buffer.from(scheduled.input.payloads[0].data, 'base64').toString('utf8'))
      const request = parseSearchRoundInput(input)
      if ('search' in input) {
        assert.deepEqual(
          request.settings,
          strategySettings(CampaignConfig.parse({ search: input.search }).search),
          file,
        )
        assert.equal(request.strategy, input.search.strategy)
        seen.current++
      } else {
        assert.deepEqual(request.settings, settingsBefore(input), file)
        assert.equal(request.strategy, input.strategy ?? 'reflective')
        seen.flat++
      }
    }
  }
  assert.ok(seen.flat > 0 && seen.current > 0, `searchRound inputs in test/histories: ${JSON.stringify(seen)}`)
})

test('an invalid input is refused with the field named', () => {
  const config = CampaignConfig.parse({})
  const refused = (value: unknown, field: string) =>
    assert.throws(
      () => parseSearchRoundInput(value),
      (e: unknown) => {
        assert.ok(isKaizenError(e) && e.code === 'INVALID_INPUT', String(e))
        const fields = e.details?.fields as string[] | undefined
        assert.ok(fields?.includes(field), `${e.message} (fields ${JSON.stringify(fields)})`)
        return true
      },
    )
  refused({ ...ids, search: { ...config.search, proposalsPerRound: 'four' } }, 'search.proposalsPerRound')
  refused({ ...ids, search: { ...config.search, strategy: 'annealing' } }, 'search.strategy')
  refused({ ...ids, search: { ...config.search, budgetUsd: -1 } }, 'search.budgetUsd')
  const { proposals: _, ...noProposals } = legacyInput(config)
  refused(noProposals, 'proposals')
  refused({ ...legacyInput(config), strategy: 'reflective' }, 'strategy')
  refused({ ...legacyInput(config), campaignId: 7 }, 'campaignId')
  assert.throws(() => parseSearchRoundInput(null), /searchRound input must be a mapping/)
})
