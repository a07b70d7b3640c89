import type { core } from 'zod';

const TYPE_WORDS: Record<string, string> = { number: 'a number', int: 'a whole number', string: 'text', boolean: 'on or off (true or false)', array: 'a list', object: 'a group of settings' };

/**
 * zod's own wording ("Too big: expected number to be <=65535", "Invalid input: expected number, received string")
 * in words an admin reads at a field; the schema's own messages stay as written.
 */
export function plainIssueMessage(issue: core.$ZodIssue): string {
  if (!/^(Too small|Too big|Invalid input|Invalid URL)\b/i.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_WORDS[issue.expected] ? `expected ${TYPE_WORDS[issue.expected]}` : issue.message;
    case 'too_big':
    case 'too_small': {
      const big = issue.code === 'too_big';
      const words = big ? (issue.inclusive ? 'at most' : 'less than') : issue.inclusive ? 'at least' : 'more than';
      const limit = Number(big ? issue.maximum : issue.minimum);
      if (issue.origin === 'number') return `must be ${words} ${limit}`;
      if (issue.origin === 'string') return !big && limit === 1 ? 'cannot be empty' : `must be ${words} ${limit} characters long`;
      if (issue.origin === 'array') return !big && limit === 1 ? 'needs at least one entry' : `must have ${words} ${limit} entries`;
      return issue.message;
    }
    case 'invalid_format':
      return issue.format === 'url' ? 'expected a web address, like https://example.com/hook' : issue.message;
    default:
      return issue.message;
  }
}
