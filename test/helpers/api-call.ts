import { contract, type MethodName, type Output } from '../../src-relay/admin/contract.ts';
import { ApiError } from '../../src-relay/admin/errors.ts';
import type { ApiContext } from '../../src-relay/admin/handlers/types.ts';

type AnyHandler = (input: never, context: ApiContext) => unknown;

/**
 * Calls one handler the way the admin server does: the input through the contract's input schema, the result
 * through its output schema (a handler answering outside its contract fails the test here).
 */
export async function callHandler<K extends MethodName>(handlers: { [P in K]: AnyHandler }, name: K, input: unknown, context: ApiContext): Promise<Output<K>> {
  const spec = contract[name];
  const parsed = spec.input.parse(input);
  const result = await handlers[name](parsed as never, context);
  return spec.output.parse(result) as Output<K>;
}

/** For assert.rejects: the handler refused with this code (and, when given, words in its message or issues, and exactly these issue paths). */
export function apiError(code: string, message?: RegExp, paths?: string[]) {
  return (error: unknown) => {
    if (!(error instanceof ApiError)) throw error;
    if (error.code !== code) throw new Error(`expected ${code}, got ${error.code}: ${error.message}`);
    const words = [error.message, ...(error.issues ?? []).map((issue) => issue.message)].join('\n');
    if (message && !message.test(words)) throw new Error(`message ${JSON.stringify(words)} does not match ${message}`);
    if (paths) {
      const got = (error.issues ?? []).map((issue) => issue.path);
      if (JSON.stringify(got) !== JSON.stringify(paths)) throw new Error(`issues at ${JSON.stringify(got)}, expected ${JSON.stringify(paths)}`);
    }
    return true;
  };
}
