// The part of libmime's API that submission/from-header.ts uses (the package ships no types).
declare module 'libmime' {
  const libmime: {
    /** RFC 2047 encoded words decoded; adjacent words of one charset are joined first, so a character split between them survives. */
    decodeWords(text: string): string;
  };
  export default libmime;
}
