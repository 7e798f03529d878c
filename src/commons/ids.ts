import * as z from 'zod/mini';

/**
 * The rule for a Cafe24 mall id, decided here once: it becomes a host name label
 * (`{mall_id}.cafe24api.com`), so nothing but letters, digits, `-` and `_`; and Cafe24's mall ids are
 * lower case, so any other spelling is lower-cased (the codes table's trigger does the same for rows).
 */
export const MALL_ID_RULE = 'must be a Cafe24 mall id: letters, digits, "-" or "_"';
const mallIdPattern = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

export const mallIdSchema = z.string().check(z.regex(mallIdPattern, MALL_ID_RULE), z.toLowerCase());

export function isMallId(value: string): boolean {
  return mallIdPattern.test(value);
}

/** The mall id as Cafe24 spells it. */
export function normaliseMallId(value: string): string {
  return value.toLowerCase();
}

const codeIdPattern = /^[1-9][0-9]{0,18}$/;
const maxBigint = 9_223_372_036_854_775_807n;

/** A bigserial id as a decimal string: positive, no leading zero, within int8. */
export function isCodeId(value: string): boolean {
  return codeIdPattern.test(value) && BigInt(value) <= maxBigint;
}

export const codeIdSchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .check(
    z.regex(codeIdPattern, 'must be a positive integer as a decimal string'),
    // zod runs every check even after the regex fails, hence the guard before BigInt().
    z.refine((value) => !codeIdPattern.test(value) || isCodeId(value), 'is out of range for a bigint id'),
  );
