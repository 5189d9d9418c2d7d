/**
 * Scenario families of the search benchmark (design: apo-search.md §5, "offline benchmark"): a
 * deterministic generator of simulated incident-triage worlds, one per benchmark instance.
 *
 * - "moderate": 4 clusters, at most 10 clauses, strong requirements (α = 1.8, 3–4 per cluster,
 *   1–2 per input), three generic wins and one generic loss, at most one conflict, no synergy
 *   pair; 16–20 clauses. Seed ≈ 0.35, optimum ≈ 0.8 (0.72–0.85 over the dev and test instances).
 * - "hard": 6 clusters, at most 8 clauses, α = 1.3 (3–5 requirements per cluster, 1–2 per input),
 *   2–3 conflicts (a clause that helps one cluster and hurts 2–3 others), one synergy pair
 *   (−0.25 alone, +1.1 together), one generic win and one loss, more spread in difficulty
 *   (base-logit sd 1.2); 21–24 clauses. Seed ≈ 0.35, optimum ≈ 0.7 (0.62–0.83). A second
 *   synergy pair (+1.1 on every input) would put the optimum near 0.85.
 *
 * The clause texts and incident kinds are fixed; what an instance draws (through `scenario.seed`
 * and a seeded Rng) is which clauses the library holds, which of them each cluster requires,
 * which are generic wins, conflicts or synergy pairs, the effect sizes, the seed prompt and the
 * examples' base logits. The base-logit mean is then shifted so the seed prompt's exact accuracy
 * on calibration examples (keys disjoint from every benchmark split) is the family's target.
 * Same family and instance ⇒ identical scenario.
 */
import { Rng, seed32 } from '../../core/rng.js'
import { generateExample } from '../../sim/generator.js'
import { ScenarioSchema, type FailureMode, type Scenario } from '../../sim/scenario.js'
import { SimWorld } from '../../sim/world.js'
import { promptFor } from './optimum.js'

export type Family = 'moderate' | 'hard'
export const FAMILIES: readonly Family[] = ['moderate', 'hard']

/** Instances for tuning strategies and their settings. */
export const DEV_INSTANCES: readonly number[] = Array.from({ length: 30 }, (_, i) => i)
/** Instances for reported numbers (never used for tuning). */
export const TEST_INSTANCES: readonly number[] = Array.from({ length: 30 }, (_, i) => 1000 + i)

interface ClauseText {
  id: string
  /** specific: a diagnostic or remediation step (requirement candidates); general: style and habits. */
  kind: 'specific' | 'general'
  paraphrases: [string, string]
  failureMode: FailureMode
  feedback: string
}

// Every paraphrase is one sentence (no inner . ! ?) and no paraphrase contains another.
const CLAUSE_TEXTS: readonly ClauseText[] = [
  {
    id: 'commands-with-targets',
    kind: 'specific',
    paraphrases: [
      'Give every action as an exact command together with the service, host or database it targets.',
      'Write each remediation step as a runnable command and name its target.',
    ],
    failureMode: 'vague-actions',
    feedback:
      'The actions were vague directives such as "check the logs"; the instructions never ask for exact ' +
      'commands with targets.',
  },
  {
    id: 'check-recent-deploys',
    kind: 'specific',
    paraphrases: [
      'Check whether a recent deployment lines up with the start of the incident.',
      'Look for a deploy or release shortly before the first alert.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback:
      'The diagnosis missed that a deploy preceded the errors; the instructions never ask to look at recent ' +
      'deployments.',
  },
  {
    id: 'rollback-to-known-good',
    kind: 'specific',
    paraphrases: [
      'When a deploy is at fault, roll back to the last known-good version and name that version.',
      'If a release caused the incident, revert to the previous good release by its version number.',
    ],
    failureMode: 'wrong-actions',
    feedback:
      'The remediation did not roll back to the previous version; nothing in the instructions asks for a ' +
      'rollback to the last known-good release.',
  },
  {
    id: 'inspect-dependencies',
    kind: 'specific',
    paraphrases: [
      'Inspect the health of databases and other dependencies, including connection pools.',
      'Consider whether a dependency such as a database or its connection pool is saturated.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback:
      'The diagnosis ignored the saturated database connection pool; the instructions never mention dependencies.',
  },
  {
    id: 'check-certificates',
    kind: 'specific',
    paraphrases: [
      'Consider certificate or TLS expiry when connections fail during the handshake.',
      'Check TLS certificates and their expiry dates when clients cannot connect.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer did not consider an expired TLS certificate; the instructions never mention certificates.',
  },
  {
    id: 'quantify-resources',
    kind: 'specific',
    paraphrases: [
      'Check memory, disk and CPU saturation against their limits before recommending a fix.',
      'Compare resource usage such as memory and disk with the configured limits.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer overlooked resource exhaustion; nothing asks to check memory, disk or CPU against limits.',
  },
  {
    id: 'state-risk',
    kind: 'specific',
    paraphrases: [
      'State the risk of the remediation as low, medium or high.',
      'Rate how risky the proposed actions are on a scale of low, medium and high.',
    ],
    failureMode: 'missing-risk',
    feedback: 'The answer gave no risk level; the instructions never ask for one.',
  },
  {
    id: 'no-destructive',
    kind: 'specific',
    paraphrases: [
      'Never propose destructive commands such as deleting data, volumes or namespaces.',
      'Do not suggest irreversible actions like dropping tables or deleting namespaces.',
    ],
    failureMode: 'unsafe-action',
    feedback: 'The answer proposed a destructive command; the instructions never rule out destructive actions.',
  },
  {
    id: 'check-dns',
    kind: 'specific',
    paraphrases: [
      'Check DNS resolution and recent record changes when hosts cannot be reached.',
      'Consider a DNS failure when names stop resolving or point to the wrong address.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The diagnosis missed a DNS resolution failure; the instructions never mention DNS.',
  },
  {
    id: 'check-queues',
    kind: 'specific',
    paraphrases: [
      'Look at queue depth and consumer lag when work piles up.',
      'Check whether message consumers keep up with their producers.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer ignored the growing queue backlog; nothing asks to look at queue depth or consumer lag.',
  },
  {
    id: 'compare-config',
    kind: 'specific',
    paraphrases: [
      'Compare the running configuration with the version kept in source control.',
      'Look for configuration drift between the environments.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback:
      'The answer missed a configuration change; the instructions never ask to compare the running ' +
      'configuration with source control.',
  },
  {
    id: 'check-rate-limits',
    kind: 'specific',
    paraphrases: [
      'Consider rate limits and quotas of upstream APIs when calls are rejected.',
      'Check whether an upstream provider is throttling the requests.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer did not notice upstream throttling; the instructions never mention rate limits or quotas.',
  },
  {
    id: 'check-feature-flags',
    kind: 'specific',
    paraphrases: [
      'Check whether a feature flag was toggled around the time the incident began.',
      'Treat recent feature flag changes as a possible cause.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback:
      'The answer overlooked a feature flag flipped just before the incident; nothing asks about feature flags.',
  },
  {
    id: 'check-network',
    kind: 'specific',
    paraphrases: [
      'Check for packet loss, timeouts or security group changes between services.',
      'Consider network partitions and firewall changes when calls between services time out.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback:
      'The answer did not consider the network between services; the instructions never mention packet loss ' +
      'or firewall changes.',
  },
  {
    id: 'check-storage-io',
    kind: 'specific',
    paraphrases: [
      'Look at disk latency and IO wait when requests slow down.',
      'Consider storage throughput limits when writes become slow.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer missed the storage bottleneck; nothing asks to look at disk latency or IO wait.',
  },
  {
    id: 'notify-owners',
    kind: 'specific',
    paraphrases: [
      'Name the team that owns the affected service and say when to page them.',
      'Say which owning team should be paged for this service.',
    ],
    failureMode: 'vague-actions',
    feedback:
      'The answer did not say who owns the service or whom to page; the instructions never ask for the owning team.',
  },
  {
    id: 'preserve-evidence',
    kind: 'specific',
    paraphrases: [
      'Capture logs and a heap dump before restarting anything.',
      'Preserve diagnostic evidence such as logs and dumps before you remediate.',
    ],
    failureMode: 'wrong-actions',
    feedback:
      'The remediation destroyed the evidence needed to find the cause; nothing asks to capture logs or dumps first.',
  },
  {
    id: 'json-only',
    kind: 'general',
    paraphrases: [
      'Answer only with a JSON object with the fields diagnosis, actions and risk.',
      'Reply with JSON only, using the keys diagnosis, actions and risk.',
    ],
    failureMode: 'malformed',
    feedback: 'The answer was not the JSON decision the tooling expects; the instructions never ask for JSON only.',
  },
  {
    id: 'root-cause-first',
    kind: 'general',
    paraphrases: [
      'State the single most likely root cause before proposing actions.',
      'Commit to one root cause first, then give the fix.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer hedged between several causes; the instructions never ask to commit to one root cause.',
  },
  {
    id: 'verify-after',
    kind: 'general',
    paraphrases: [
      'Include a step that verifies the fix worked.',
      'End with a check that confirms the service has recovered.',
    ],
    failureMode: 'wrong-actions',
    feedback: 'Nothing in the answer verified that the fix worked; the instructions never ask for a verification step.',
  },
  {
    id: 'blast-radius',
    kind: 'general',
    paraphrases: [
      'Estimate the blast radius, meaning which users and services are affected.',
      'Say which customers and downstream services the incident touches.',
    ],
    failureMode: 'vague-actions',
    feedback: 'The answer never said who is affected; the instructions never ask for the blast radius.',
  },
  {
    id: 'cite-metrics',
    kind: 'general',
    paraphrases: [
      'Quote the metrics from the report that support the diagnosis.',
      'Refer to the numbers in the report when explaining the cause.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The diagnosis was not tied to the numbers in the report; nothing asks to cite the metrics.',
  },
  {
    id: 'escalate-uncertain',
    kind: 'general',
    paraphrases: ['Escalate to a human when you are not confident.', 'If unsure, say that a human should take over.'],
    failureMode: 'wrong-actions',
    feedback: 'The answer acted confidently on a guess; the instructions never say to escalate when unsure.',
  },
  {
    id: 'correlate-timeline',
    kind: 'general',
    paraphrases: [
      'Build a short timeline of events from the report before deciding.',
      'Order the events in the report by time and reason from that order.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer confused cause and effect; the instructions never ask for a timeline of events.',
  },
  {
    id: 'restart-first',
    kind: 'general',
    paraphrases: [
      'Prefer restarting the affected service as the first remediation.',
      'Start with a restart of the failing service before anything else.',
    ],
    failureMode: 'wrong-actions',
    feedback:
      'The answer did not try the quick restart that would have fixed it; the instructions never suggest ' +
      'restarting first.',
  },
  {
    id: 'scale-out',
    kind: 'general',
    paraphrases: [
      'Consider scaling out replicas when load alone explains the symptoms.',
      'If traffic exceeds capacity, add replicas as the first step.',
    ],
    failureMode: 'wrong-actions',
    feedback: 'The answer did not add capacity although load explained the symptoms; nothing suggests scaling out.',
  },
  {
    id: 'be-brief',
    kind: 'general',
    paraphrases: ['Keep the answer short.', 'Be concise in every field.'],
    failureMode: 'malformed',
    feedback: 'The answer was long-winded; the instructions never ask for brevity.',
  },
  {
    id: 'step-by-step',
    kind: 'general',
    paraphrases: [
      'Reason step by step about the evidence before giving the decision.',
      'Think through the evidence one step at a time before you answer.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer jumped to a conclusion; the instructions never ask to reason through the evidence.',
  },
  {
    id: 'reuse-runbook',
    kind: 'general',
    paraphrases: [
      'Follow the standard runbook for this kind of incident when one exists.',
      'Apply the matching runbook procedure if the incident type has one.',
    ],
    failureMode: 'wrong-actions',
    feedback: 'The answer improvised instead of following the runbook; the instructions never mention runbooks.',
  },
  {
    id: 'explain-reasoning',
    kind: 'general',
    paraphrases: [
      'Explain briefly why the evidence points to this cause.',
      'Justify the diagnosis with one or two sentences of evidence.',
    ],
    failureMode: 'wrong-diagnosis',
    feedback: 'The answer gave no reason for its diagnosis; the instructions never ask to justify it.',
  },
]

interface ClusterText {
  id: string
  summaries: string[]
  diagnosis: string
  keywords: string[]
  actions: Array<{ command: string; target: string }>
  risk: 'low' | 'medium' | 'high'
}

const CLUSTER_TEXTS: readonly ClusterText[] = [
  {
    id: 'bad-deploy',
    summaries: [
      'The 5xx rate on {{service}} rose sharply minutes after the latest deploy.',
      'Since the last rollout of {{service}} a third of the requests fail.',
    ],
    diagnosis: 'Faulty deploy of {{service}}',
    keywords: ['deploy'],
    actions: [{ command: 'kubectl rollout undo deployment/{{service}}', target: '{{service}}' }],
    risk: 'medium',
  },
  {
    id: 'pool-exhaustion',
    summaries: [
      '{{service}} requests time out; the connection pool of {{database}} is full.',
      'Latency on {{service}} is 14x normal and {{database}} has hundreds of waiting clients.',
    ],
    diagnosis: 'Connection pool exhaustion on {{database}} starving {{service}}',
    keywords: ['connection pool', '{{database}}'],
    actions: [{ command: 'kubectl set env deployment/{{service}} DB_POOL_MAX=40', target: '{{service}}' }],
    risk: 'medium',
  },
  {
    id: 'cert-expiry',
    summaries: [
      'TLS handshakes to {{service}} fail; clients report an expired certificate.',
      'All calls to {{service}} from the mobile app fail with x509 errors.',
    ],
    diagnosis: 'Expired TLS certificate on {{service}}',
    keywords: ['certificate', 'expired'],
    actions: [{ command: 'certbot renew --cert-name {{service}}.internal', target: '{{service}}' }],
    risk: 'low',
  },
  {
    id: 'disk-full',
    summaries: [
      'Writes on {{host}} fail with ENOSPC after a log spike from {{service}}.',
      '{{service}} on {{host}} crashes on startup with no space left on device.',
    ],
    diagnosis: 'Disk full on {{host}} from {{service}} logs',
    keywords: ['disk', '{{host}}'],
    actions: [{ command: 'journalctl --vacuum-size=500M', target: '{{host}}' }],
    risk: 'low',
  },
  {
    id: 'memory-leak',
    summaries: [
      '{{service}} pods restart every few minutes with OOMKilled.',
      'Heap usage of {{service}} climbs until the container is killed.',
    ],
    diagnosis: 'Memory leak in {{service}} causing OOM kills',
    keywords: ['memory', 'oom'],
    actions: [{ command: 'kubectl rollout restart deployment/{{service}}', target: '{{service}}' }],
    risk: 'medium',
  },
  {
    id: 'dns-failure',
    summaries: [
      '{{service}} cannot reach its dependencies; lookups return NXDOMAIN.',
      'Calls from {{service}} to internal names fail after a DNS change.',
    ],
    diagnosis: 'DNS resolution failure for {{service}}',
    keywords: ['dns'],
    actions: [{ command: 'kubectl rollout restart deployment/coredns -n kube-system', target: 'coredns' }],
    risk: 'medium',
  },
  {
    id: 'queue-backlog',
    summaries: [
      'The job queue of {{service}} keeps growing and consumers fall behind.',
      'Orders handled by {{service}} are delayed by hours; the queue backlog grows.',
    ],
    diagnosis: 'Consumers of {{service}} cannot keep up with the queue',
    keywords: ['queue', 'backlog'],
    actions: [{ command: 'kubectl scale deployment/{{service}}-worker --replicas=8', target: '{{service}}' }],
    risk: 'low',
  },
  {
    id: 'rate-limited',
    summaries: [
      '{{service}} gets HTTP 429 from its payment provider since this morning.',
      'Upstream calls from {{service}} are rejected with quota exceeded errors.',
    ],
    diagnosis: 'Upstream rate limit hit by {{service}}',
    keywords: ['rate limit', '429'],
    actions: [{ command: 'kubectl set env deployment/{{service}} UPSTREAM_RPS=50', target: '{{service}}' }],
    risk: 'low',
  },
]

interface FamilySpec {
  clusters: number
  maxClauses: number
  requirementWeight: number
  /** Distinct requirement clauses in the library; clusters share them when they need more. */
  requirementClauses: [number, number]
  clusterRequirements: [number, number]
  requirementsPerInput: { min: number; max: number }
  genericGood: number
  genericBad: number
  conflicts: [number, number]
  conflictHurts: [number, number]
  synergies: number
  neutral: [number, number]
  baseSd: number
  seedAccuracy: number
}

const SPECS: Record<Family, FamilySpec> = {
  moderate: {
    clusters: 4,
    maxClauses: 10,
    requirementWeight: 1.8,
    requirementClauses: [10, 11],
    clusterRequirements: [3, 4],
    requirementsPerInput: { min: 1, max: 2 },
    genericGood: 3,
    genericBad: 1,
    conflicts: [0, 1],
    conflictHurts: [1, 2],
    synergies: 0,
    neutral: [2, 4],
    baseSd: 0.7,
    seedAccuracy: 0.35,
  },
  hard: {
    clusters: 6,
    maxClauses: 8,
    requirementWeight: 1.3,
    requirementClauses: [15, 16],
    clusterRequirements: [3, 5],
    requirementsPerInput: { min: 1, max: 2 },
    genericGood: 1,
    genericBad: 1,
    conflicts: [2, 3],
    conflictHurts: [2, 3],
    synergies: 1,
    neutral: [0, 1],
    baseSd: 1.2,
    seedAccuracy: 0.35,
  },
}

/** Keys of the examples that calibrate the base logit (disjoint from every benchmark split). */
const CALIBRATION_KEYS = Array.from({ length: 1000 }, (_, i) => `calibration-${i}`)

const between = (rng: Rng, [lo, hi]: readonly [number, number]) => lo + rng.int(hi - lo + 1)
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits
const sentenceOf = (p: string) => p.replace(/[.!?]+$/, '')

/**
 * The scenario of benchmark instance `instance` of a family (validated by ScenarioSchema).
 * @param options.fidelity feedback fidelity (default 0.7)
 */
export function familyScenario(family: Family, instance: number, options: { fidelity?: number } = {}): Scenario {
  const spec = SPECS[family]
  if (!spec) throw new Error(`unknown scenario family "${String(family)}" (use ${FAMILIES.join(' or ')})`)
  if (!Number.isInteger(instance) || instance < 0)
    throw new RangeError(`instance must be a whole number ≥ 0 (got ${instance})`)
  const rng = Rng.fromSeed('bench-search-family', family, instance)

  // Incident kinds and their traffic (geometric weights, as in the design).
  const clusterTexts = rng.sample(CLUSTER_TEXTS, spec.clusters)
  const clusterWeights = clusterTexts.map((_, i) => round(0.75 ** i))

  // The clause library: requirement clauses, generic wins/losses, conflicts, synergy pairs, neutral ones.
  const specific = rng.shuffle(CLAUSE_TEXTS.filter((c) => c.kind === 'specific'))
  const general = rng.shuffle(CLAUSE_TEXTS.filter((c) => c.kind === 'general'))
  const requirementPool = specific.slice(0, between(rng, spec.requirementClauses))
  const take = (n: number) => general.splice(0, n)
  const genericGood = take(spec.genericGood)
  const genericBad = take(spec.genericBad)
  const conflictClauses = take(between(rng, spec.conflicts))
  const synergyClauses = take(2 * spec.synergies)
  const neutral = rng.sample([...general, ...specific.slice(requirementPool.length)], between(rng, spec.neutral))
  const library = [...requirementPool, ...genericGood, ...genericBad, ...conflictClauses, ...synergyClauses, ...neutral]
  const clauses = CLAUSE_TEXTS.filter((c) => library.includes(c)) // a stable, readable order

  // Cluster requirements: unused requirement clauses first, then shared ones. There are at least as
  // many slots as requirement clauses in both families, so every one of them is some cluster's.
  const unused = rng.shuffle(requirementPool.map((c) => c.id))
  const requirements = clusterTexts.map(() => {
    const n = between(rng, spec.clusterRequirements)
    const own = unused.splice(0, n)
    const shared = rng.sample(
      requirementPool.map((c) => c.id).filter((id) => !own.includes(id)),
      n - own.length,
    )
    return [...own, ...shared]
  })

  const clusterIds = clusterTexts.map((c) => c.id)
  const conflicts = conflictClauses.map((c) => {
    const [help, ...rest] = rng.shuffle(clusterIds) as [string, ...string[]]
    return {
      clause: c.id,
      helps: [help],
      hurts: rest.slice(0, between(rng, spec.conflictHurts)),
      weight: round(0.8 + 0.4 * rng.float(), 2),
      helpWeight: round(0.5 + 0.3 * rng.float(), 2),
      failureMode: 'wrong-actions' as const,
      feedback:
        `Following the instruction "${sentenceOf(c.paraphrases[0])}" made this answer worse; it does not suit ` +
        `this kind of incident.`,
    }
  })
  const synergies = Array.from({ length: spec.synergies }, (_, i) => ({
    clauses: [(synergyClauses[2 * i] as ClauseText).id, (synergyClauses[2 * i + 1] as ClauseText).id] as [
      string,
      string,
    ],
    alone: -0.25,
    together: 1.1,
  }))
  const generic = [
    ...genericGood.map((c) => ({ clause: c.id, weight: round(0.25 + 0.2 * rng.float(), 2) })),
    ...genericBad.map((c) => ({ clause: c.id, weight: round(-0.1 - 0.2 * rng.float(), 2) })),
  ]

  // The seed prompt: one requirement of some cluster, and half the time one general clause.
  const seedClauses = [rng.pick(requirementPool).id]
  if (rng.float() < 0.5)
    seedClauses.push(
      rng.pick([...genericGood, ...genericBad, ...conflictClauses, ...neutral.filter((c) => c.kind === 'general')]).id,
    )

  const scenarioSeed = seed32('bench-search', family, instance) >>> 0
  const raw = {
    id: `bench-${family}-${instance}`,
    title: `Search benchmark, ${family} family, instance ${instance}`,
    description: `A simulated incident-triage world for the search benchmark (${family} family, instance ${instance}).`,
    seed: scenarioSeed,
    task: {
      id: 'incident-triage',
      title: 'Incident triage',
      description: 'Turn an incident report into a root cause, remediation commands with targets, and a risk level.',
      inputFields: ['incident_id', 'service', 'summary'],
      prompt: {
        system: 'placeholder',
        user: 'Incident {{incident_id}} on {{service}}:\n{{summary}}',
        model: 'sim-standard',
        params: { temperature: 0, maxTokens: 600 },
      },
      maxClauses: spec.maxClauses,
      maxPromptTokens: 600,
    },
    variables: {
      incident_id: { kind: 'id', prefix: 'INC-', digits: 5 },
      service: {
        kind: 'choice',
        values: [
          'auth-service',
          'payments-api',
          'checkout-web',
          'search-indexer',
          'notification-worker',
          'inventory-api',
        ],
      },
      database: { kind: 'choice', values: ['orders-db', 'users-db', 'billing-db', 'catalog-db'] },
      host: { kind: 'choice', values: ['node-a1', 'node-a4', 'node-b2', 'node-c7', 'node-d3'] },
    },
    clusters: clusterTexts.map((c, i) => ({
      id: c.id,
      weight: clusterWeights[i],
      summaries: c.summaries,
      reference: { diagnosis: c.diagnosis, keywords: c.keywords, actions: c.actions, risk: c.risk },
      requirements: requirements[i],
    })),
    clauses: clauses.map((c) => ({
      id: c.id,
      paraphrases: [...c.paraphrases],
      failureMode: c.failureMode,
      feedback: c.feedback,
    })),
    effects: {
      baseLogit: { mean: 0, sd: spec.baseSd },
      requirementWeight: spec.requirementWeight,
      requirementsPerInput: spec.requirementsPerInput,
      clusterNoiseSd: 0.12,
      generic,
      conflicts,
      synergies,
      length: { freeClauses: 5, costPerClause: 0.08 },
      noiseFailureModes: { 'wrong-diagnosis': 0.35, 'vague-actions': 0.35, 'missing-risk': 0.15, malformed: 0.15 },
    },
    feedback: {
      fidelity: options.fidelity ?? 0.7,
      generic: [
        'The answer could have been more useful to the on-call engineer.',
        'The on-call engineer had to rework this answer.',
        'This recommendation was not followed.',
      ],
    },
    output: {
      vagueActions: [
        'check the logs',
        'investigate the issue further',
        'monitor the dashboards',
        'restart things if needed',
      ],
      unsafeActions: [
        { command: 'kubectl delete namespace {{service}}', target: '{{service}}' },
        { command: 'rm -rf /var/lib/{{service}}', target: '{{service}}' },
      ],
      malformed: [
        'Looks like {{service}} is unhealthy. I would restart it and keep an eye on it.',
        'Root cause: unclear. Next steps: investigate {{service}} and follow up.',
      ],
    },
    models: [
      {
        id: 'sim-standard',
        ability: 0,
        latencyMs: { median: 900, spread: 0.3 },
        price: { inputPerMTok: 0.4, outputPerMTok: 1.6 },
        errorRate: 0,
      },
    ],
    grading: {
      weights: { validity: 0.4, specificity: 0.3, correctness: 0.3 },
      commandPattern: '^(kubectl|psql|certbot|journalctl|logrotate|systemctl|helm)\\b',
      forbidden: ['delete\\s+(namespace|pvc|volume|deployment)', 'drop\\s+(table|database)', 'rm\\s+-rf'],
    },
  }
  const provisional = ScenarioSchema.parse(raw)
  raw.task.prompt.system = promptFor(provisional, seedClauses)

  // Calibrate the base-logit mean so the seed prompt's exact accuracy is the family's target.
  // An example's base is mean + sd·z with z fixed by its key, so the shift is exact.
  const world = new SimWorld(provisional)
  const logits = CALIBRATION_KEYS.map((k) => world.logit(generateExample(provisional, k), seedClauses, 'sim-standard'))
  const accuracyAt = (shift: number) => logits.reduce((a, x) => a + 1 / (1 + Math.exp(-(x + shift))), 0) / logits.length
  let lo = -10
  let hi = 10
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2
    if (accuracyAt(mid) < spec.seedAccuracy) lo = mid
    else hi = mid
  }
  raw.effects.baseLogit.mean = round((lo + hi) / 2, 4)
  return ScenarioSchema.parse(raw)
}
