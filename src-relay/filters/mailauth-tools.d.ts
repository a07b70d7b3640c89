// mailauth ships no types for its tools module; the key cache (public-key-cache.ts) only swaps getPublicKey in its exports.
declare module 'mailauth/lib/tools.js' {
  const tools: Record<string, unknown>;
  export default tools;
}
