/**
 * The layer rule, checked by `npm run lint:deps` (part of `npm test`); docs/architecture.md, "Layers".
 *
 * Folders are layers, bottom to top. A module imports only from its own folder and the folders
 * below it. bench/, scripts/ and test/ sit on top: they may import anything, and only they import
 * each other. workflows/ is bundled for Temporal's deterministic sandbox: it imports only core/,
 * workflows/ and types from activities/. sdk/ (the application client, `kaizen/client`) sits right on
 * core/: it imports nothing else of ours. examples/ are applications: they use Kaizen only through
 * `kaizen/client` (resolved by the package's own `exports` to sdk/), and nothing imports them.
 *
 * The order is written once, below; the rules are generated from it.
 */

/** Bottom to top. bin/ (the `kaizen` executable) sits on the CLI. */
const LAYERS = [
  'core',
  'sdk',
  'lib',
  'sim',
  'db',
  'providers',
  'privacy',
  'graders',
  'proposers',
  'evaluation',
  'serving',
  'activities',
  'workflows',
  'worker',
  'runtime',
  'client',
  'api',
  'console',
  'cli',
  'bin',
]

/** On top of every layer: they may import anything, and nothing but each other imports them. */
const TOOLS = ['bench', 'scripts', 'test']

/** Applications using Kaizen as its users do: through the client alone. */
const APPS = ['examples']

/** What workflow code may import besides itself (anything from activities/ only as a type). */
const WORKFLOW_IMPORTS = ['core', 'activities']

const folders = (names) => `^(${names.join('|')})/`

const layerRules = LAYERS.slice(0, -1).map((layer, i) => {
  const below = LAYERS.slice(0, i)
  return {
    name: `layer-${layer}`,
    severity: 'error',
    comment:
      (below.length > 0
        ? `${layer}/ may import only from itself and the layers below it (${below.map((l) => `${l}/`).join(', ')})`
        : `${layer}/ imports nothing of ours outside ${layer}/`) + `; the order is ${LAYERS.join(' < ')}`,
    from: { path: `^${layer}/` },
    to: { path: folders(LAYERS.slice(i + 1)) },
  }
})

const workflowsAt = LAYERS.indexOf('workflows')

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'not-to-tools',
      severity: 'error',
      comment: `only ${TOOLS.join(', ')} may import ${TOOLS.map((t) => `${t}/`).join(', ')}`,
      from: { pathNot: folders(TOOLS) },
      to: { path: folders(TOOLS) },
    },
    {
      name: 'examples-use-the-client',
      severity: 'error',
      comment: 'examples/ use Kaizen as an application does: through `kaizen/client` (sdk/) alone',
      from: { path: folders(APPS) },
      to: { path: folders([...LAYERS.filter((l) => l !== 'sdk'), ...TOOLS]) },
    },
    {
      name: 'not-to-examples',
      severity: 'error',
      comment: 'nothing imports examples/ (they are applications; tests run them as processes)',
      from: { pathNot: folders(APPS) },
      to: { path: folders(APPS) },
    },
    {
      name: 'workflows-sandbox',
      severity: 'error',
      comment:
        "workflows/ runs in Temporal's deterministic sandbox: it may import only core/, workflows/ " +
        'and types from activities/',
      from: { path: '^workflows/' },
      to: { path: folders(LAYERS.slice(0, workflowsAt).filter((l) => !WORKFLOW_IMPORTS.includes(l))) },
    },
    {
      name: 'workflows-activities-types-only',
      severity: 'error',
      comment:
        'workflows/ may import activities/ only with `import type` (activity code must not be bundled ' +
        'into the workflow sandbox; call activities through proxyActivities)',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'sim-through-the-provider',
      severity: 'error',
      comment:
        "the simulation is one way to supply a task's model: outside sim/ and the tools, only the " +
        'simulation provider (providers/simulation.ts) and the module that serves the simulated world ' +
        '(cli/sim-world.ts, for `kaizen sim serve` and the task-file demo) import sim/; everything else ' +
        'asks the provider',
      from: {
        path: '^',
        pathNot: [folders(['sim', ...TOOLS]), '^providers/simulation\\.ts$', '^cli/sim-world\\.ts$'],
      },
      to: { path: '^sim/' },
    },
    {
      name: 'no-circular-between-folders',
      severity: 'error',
      comment: 'a cycle of imports that leaves the folder it starts in (folders depend one way only)',
      from: { path: '^([^/]+)/' },
      to: { circular: true, via: { pathNot: '^$1/' } },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports are dependencies too (and the workflows rule tells them apart).
    tsPreCompilationDeps: true,
    // Every layer, tool and app folder (`depcruise … .` reads the whole repository, node_modules aside).
    includeOnly: folders([...LAYERS, ...TOOLS, ...APPS]),
    // `kaizen/client` from examples/ resolves through package.json's own `exports` (self-reference).
    enhancedResolveOptions: { exportsFields: ['exports'] },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
  },
}
