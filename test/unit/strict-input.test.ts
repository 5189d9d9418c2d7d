import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CampaignConfig, StrictCampaignConfig, parseCampaignConfig } from '../../core/config.js'
import { isKaizenError } from '../../core/errors.js'
import {
  configField,
  configFlag,
  choiceFlag,
  cronFlag,
  describeRange,
  durationFlag,
  intFlag,
  numberFlag,
  timezoneFlag,
} from '../../cli/flags.js'

const refused = (fn: () => unknown, pattern: RegExp, fields?: string[]) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(isKaizenError(e) && e.code === 'INVALID_INPUT', String(e))
    assert.match(e.message, pattern)
    if (fields) assert.deepEqual(e.details?.fields, fields)
    return true
  })

test('campaign config from people must be a mapping', () => {
  refused(
    () => parseCampaignConfig('search', 'campaign config c.yaml'),
    /campaign config c\.yaml must be a mapping of settings .* not the text "search"/,
  )
  refused(
    () => parseCampaignConfig([{ search: { rounds: 1 } }], 'campaign config c.yaml'),
    /must be a mapping of settings .* not a list/,
  )
  refused(
    () => parseCampaignConfig(7, 'request body', ['config']),
    /must be a mapping of settings at config .* not a number/,
    ['config'],
  )
  // An empty file (null) means every default.
  assert.deepEqual(parseCampaignConfig(null), CampaignConfig.parse({}))
})

test('unknown keys are refused at their full path, with the key probably meant', () => {
  refused(
    () => parseCampaignConfig({ serach: { rounds: 1 } }),
    /serach: unknown setting "serach"; did you mean "search"\?/,
    ['serach'],
  )
  refused(
    () => parseCampaignConfig({ search: { roudns: 1 } }),
    /search\.roudns: unknown setting "roudns"; did you mean "rounds"\?/,
    ['search.roudns'],
  )
  refused(
    () => parseCampaignConfig({ canary: { weigth: 0.1, bake: { second: 60 } } }),
    /canary\.bake\.second: .*did you mean "seconds"\?\n.*canary\.weigth: .*did you mean "weight"\?/,
    ['canary.bake.second', 'canary.weigth'],
  )
  refused(
    () => parseCampaignConfig({ canary: { analysis: { alphaQualty: 0.01 } } }),
    /canary\.analysis\.alphaQualty: .*did you mean "alphaQuality"\?/,
  )
  // Nothing close: the keys that exist there are listed.
  refused(
    () => parseCampaignConfig({ zzzzzz: 1 }),
    /zzzzzz: unknown setting "zzzzzz"; the settings here are: seed, sample, splits, search, gate, canary/,
  )
  // Under an API body's prefix.
  refused(
    () => parseCampaignConfig({ search: { serach: 1 } }, 'request body', ['config']),
    /config\.search\.serach: unknown setting/,
    ['config.search.serach'],
  )
})

test('the strict schema is the lenient one with unknown keys refused: same defaults, same refinements', () => {
  assert.deepEqual(StrictCampaignConfig.parse({}), CampaignConfig.parse({}))
  const full = CampaignConfig.parse({ sample: { size: 100 }, canary: { steps: [0.1, 0.2] } })
  assert.deepEqual(StrictCampaignConfig.parse(full), full, 'a parsed config parses again to itself')
  refused(
    () => parseCampaignConfig({ splits: { train: 0.5, validation: 0.5, holdout: 0.5 } }),
    /splits: train \+ validation \+ holdout must be 1/,
  )
  refused(() => parseCampaignConfig({ canary: { steps: [0.2, 0.1] } }), /canary\.steps\[1\]: ramp steps must increase/)
  // Workflows parse leniently: configs written by older builds with keys since removed still run.
  assert.equal(CampaignConfig.safeParse({ search: { rounds: 2, retiredSetting: true } }).success, true)
})

test('flags are parsed by type; the error names the flag, the value and what is allowed', () => {
  assert.equal(describeRange(configField('search.rounds')), 'a whole number from 1 to 1000')
  assert.equal(describeRange(configField('canary.weight')), 'a number greater than 0 and at most 0.5')
  assert.equal(numberFlag('--rounds', configField('search.rounds'))('12'), 12)
  refused(
    () => numberFlag('--rounds', configField('search.rounds'))('abc'),
    /^--rounds "abc" is not a number; use a whole number from 1 to 1000$/,
    ['--rounds'],
  )
  refused(
    () => numberFlag('--rounds', configField('search.rounds'))('2.5'),
    /--rounds "2\.5" is out of range: use a whole number from 1 to 1000/,
  )
  refused(
    () => numberFlag('--canary-weight', configField('canary.weight'))('abc'),
    /--canary-weight "abc" is not a number; use a number greater than 0 and at most 0\.5/,
  )
  refused(
    () => numberFlag('--canary-weight', configField('canary.weight'))('0.7'),
    new RegExp(
      String.raw`--canary-weight "0\.7" is out of range: use a number greater than 0 and at most 0\.5 ` +
        String.raw`\(at most 0\.5: the canary is compared with the concurrent baseline`,
    ),
  )
  refused(
    () => numberFlag('--budget', configField('search.rolloutBudget'))('5'),
    /--budget "5" is out of range: use a whole number at least 10/,
  )
  // A flag that sets a campaign setting names the setting too.
  refused(
    () => configFlag('--canary-weight', 'canary.weight')('7'),
    /^--canary-weight "7" \(canary\.weight\) is out of range: use a number greater than 0 and at most 0\.5/,
  )
  refused(() => intFlag('--port', 0, 65_535)('0x50'), /--port "0x50" is not a number/)
  refused(() => intFlag('--limit', 1)(''), /--limit "" is not a number/)
  refused(
    () => choiceFlag('--policy', ['hold', 'rollback'])('rollbak'),
    /--policy "rollbak" is not one of hold, rollback; did you mean "rollback"\?/,
  )
  assert.equal(durationFlag('--catchup-window')('30 minutes'), '30 minutes')
  refused(() => durationFlag('--catchup-window')('soon'), /--catchup-window "soon" is not a duration/)
  refused(() => cronFlag('--cron')('every night'), /--cron "every night" is not a 5-field cron expression/)
  assert.equal(cronFlag('--cron')(' 0  2 * * * '), '0 2 * * *')
  refused(() => timezoneFlag('--timezone')('Mars/Olympus'), /--timezone "Mars\/Olympus" is not an IANA time zone/)
  assert.equal(timezoneFlag('--timezone')('Europe/Paris'), 'Europe/Paris')
})
