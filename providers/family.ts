/**
 * @module providers/family
 * Which model family a model id belongs to. A judge from the same family as the model it judges
 * tends to prefer its own kind of answer (self-preference), so judge hygiene can require a
 * different family. Unknown ids return null (then the check cannot vouch for independence).
 */
const FAMILIES: Array<[RegExp, string]> = [
  [/^sim-judge/, 'simulation-judge'],
  [/^sim-/, 'simulation'],
  [/^(openai:)?(gpt-|o[1-9]|chatgpt-|text-|davinci|ft:gpt)/, 'openai'],
  [/^(anthropic:)?claude/, 'anthropic'],
  [/(^|[/:])(meta-)?llama/i, 'llama'],
  [/(^|[/:])(mistral|mixtral|codestral|ministral)/i, 'mistral'],
  [/(^|[/:])qwen/i, 'qwen'],
  [/(^|[/:])(gemini|gemma)/i, 'google'],
  [/(^|[/:])deepseek/i, 'deepseek'],
  [/(^|[/:])phi-?\d/i, 'microsoft'],
]

export function modelFamily(model: string): string | null {
  const id = model.replace(/^openai:(?!gpt|o[1-9]|chatgpt)/, '')
  for (const [re, family] of FAMILIES) if (re.test(id)) return family
  return null
}
