// mailauth ships no types for the internals Moat changes: getPublicKey in the tools module's exports (the key cache,
// public-key-cache.ts), the DKIM parser's header scan (mailauth-header-scan.ts) and the verifier's bounds
// (mailauth-signature-limits.ts), and its relaxed body hash (mailauth-relaxed-lines.ts).
declare module 'mailauth/lib/tools.js' {
  const tools: Record<string, unknown>;
  export default tools;
}
declare module 'mailauth/lib/dkim/message-parser.js' {
  const parser: { MessageParser: { prototype: { processChunk: (chunk: Buffer) => Promise<void> } } };
  export default parser;
}
declare module 'mailauth/lib/dkim/dkim-verifier.js' {
  const verifier: { DkimVerifier: { prototype: Parameters<typeof import('./mailauth-signature-limits.ts').installSignatureLimits>[0] } };
  export default verifier;
}
declare module 'mailauth/lib/dkim/body/relaxed.js' {
  const relaxed: { RelaxedHash: { prototype: Parameters<typeof import('./mailauth-relaxed-lines.ts').installRelaxedLines>[0] } };
  export default relaxed;
}
