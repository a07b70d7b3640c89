import type { z } from 'zod';

// The contract kit: what every area's slice of the admin contract (queue/contract.ts, ...) declares its methods with;
// admin/contract.ts joins the slices. It lives below the areas so that a slice never imports admin/.

/**
 * One admin API method: its input and output schemas. `public` methods answer without a session (log-in and the
 * first-run claim); every other one needs a logged-in admin and, with a cookie session, the CSRF header.
 * This file and the contract slices import nothing but zod: the renderer compiles against them (STYLE habit 3).
 */
export interface MethodSpec<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  input: I;
  output: O;
  public?: boolean;
  /** One line for the API listing. */
  summary: string;
}

export function method<I extends z.ZodType, O extends z.ZodType>(spec: MethodSpec<I, O>): MethodSpec<I, O> {
  return spec;
}

export type ContractShape = Record<string, MethodSpec>;
export type InputOf<M extends MethodSpec> = z.input<M['input']>;
export type OutputOf<M extends MethodSpec> = z.output<M['output']>;
