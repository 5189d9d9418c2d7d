/**
 * @module lib/tokens
 * A rough token count for budgets and prompt limits where no tokenizer is at hand.
 */

/** ~4 characters per token, as for English text with common tokenizers. */
export const approxTokens = (text: string): number => Math.ceil(text.length / 4)
