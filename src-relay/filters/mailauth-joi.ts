// mailauth 4.13.3 loads joi 18.2.1 (with @hapi/address and @hapi/hoek) for two checks only: a DKIM key's p= value is
// base64, padding optional (lib/tools.js), and an SPF domain is an ASCII domain name (lib/spf/index.js). joi costs
// a relay about 60 ms of blocked event loop when sender authentication first loads, and 4 MB for the rest of its life.
// This stands in for joi in mailauth's modules with those two checks, written after joi 18.2.1 and @hapi/address 5.1.1
// (both pinned by mailauth's exact versions) and compared with them in test/unit/filters/mailauth-joi.test.ts.
import { createRequire, Module } from 'node:module';

interface Validation {
  value: unknown;
  error?: Error;
}

interface StringSchema {
  validate(value: unknown): Validation;
}

// joi's internals.base64Regex[paddingRequired = false][urlSafe = false]
const BASE64 = /^(?:[A-Za-z0-9+\/]{2}[A-Za-z0-9+\/]{2})*(?:[A-Za-z0-9+\/]{2}(==)?|[A-Za-z0-9+\/]{3}=?)?$/;
// @hapi/address's segment rules (they admit ASCII letters, digits and hyphens only)
const TLD_SEGMENT = /^[a-zA-Z](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?$/;
const DOMAIN_SEGMENT = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?$/;
const MAX_DOMAIN_LENGTH = 256;
const MAX_SEGMENT_LENGTH = 63;

/** `Joi.string()` and one rule: undefined passes (nothing is required), anything but a non-empty string fails. */
function stringRule(rule: (value: string) => boolean, message: string): StringSchema {
  return {
    validate(value: unknown): Validation {
      if (value === undefined) return { value };
      if (typeof value !== 'string') return { value, error: new Error('"value" must be a string') };
      if (value === '') return { value, error: new Error('"value" is not allowed to be empty') };
      return rule(value) ? { value } : { value, error: new Error(message) };
    },
  };
}

/**
 * @hapi/address `isDomainValid(domain, { allowUnicode: false, tlds: false })`: at least two segments, the last a TLD.
 * Its checks that the segment rules make anyway (non-ASCII and control characters, empty segments) are left out. It
 * also runs the name through a URL parser first, which changes only letter case and numeric (IPv4) forms: the segment
 * rules ignore case, and a numeric form's last segment is never a TLD, before the parser or after it.
 */
function isAsciiDomain(domain: string): boolean {
  if (domain.length > MAX_DOMAIN_LENGTH) return false;
  const segments = domain.split('.');
  if (segments.length < 2) return false;
  return segments.every((segment, i) => segment.length <= MAX_SEGMENT_LENGTH && (i < segments.length - 1 ? DOMAIN_SEGMENT : TLD_SEGMENT).test(segment));
}

function expectOptions(rule: string, given: unknown, known: Record<string, boolean>): void {
  if (JSON.stringify(given) !== JSON.stringify(known)) {
    throw new Error(`mailauth asked joi for string().${rule}(${JSON.stringify(given)}); Moat's stand-in (filters/mailauth-joi.ts) knows only ${JSON.stringify(known)}`);
  }
}

export const JOI_STAND_IN = {
  string: () => ({
    base64(options: unknown): StringSchema {
      expectOptions('base64', options, { paddingRequired: false });
      return stringRule((value) => BASE64.test(value), '"value" must be a valid base64 string');
    },
    domain(options: unknown): StringSchema {
      expectOptions('domain', options, { allowUnicode: false, tlds: false });
      return stringRule(isAsciiDomain, '"value" must contain a valid domain name');
    },
  }),
};

/**
 * Puts the stand-in where mailauth's `require('joi')` finds it; called before any mailauth module is imported. Where
 * joi is loaded already (by something else), mailauth gets the real one.
 */
export function installJoiStandIn(): void {
  const require = createRequire(import.meta.url);
  const path = createRequire(require.resolve('mailauth/lib/tools.js')).resolve('joi');
  if (require.cache[path]) return;
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = JOI_STAND_IN;
  require.cache[path] = standIn;
}
