// The part of libmime's API that submission/from-header.ts uses (the package ships no types).
declare module 'libmime' {
  const libmime: {
    /** RFC 2047 encoded words decoded; adjacent words of one charset are joined first, so a character split between them survives. */
    decodeWords(text: string): string;
    /** One encoded word's text decoded in its charset (iconv-lite, encoding-japanese for JIS and EUC-JP); an unknown charset is read as UTF-8. */
    decodeWord(charset: string, encoding: 'B' | 'Q', text: string): string;
    /** A structured header value split into its value and parameters (RFC 2231 continuations joined, names lower-cased). */
    parseHeaderValue(value: string): { value: string | false; params: Record<string, unknown> };
  };
  export default libmime;
}
