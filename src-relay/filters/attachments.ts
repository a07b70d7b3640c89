import { EXECUTABLE_TYPES, UNLISTED_ARCHIVE_TYPES } from './file-type.ts';
import type { Filter, FilterResult, MessageContext, MimePart, SealedPass } from './types.ts';
import { trimEndOf } from '../util/linear-text.ts';

export interface AttachmentOptions {
  action: 'reject' | 'quarantine';
  blockedExtensions: readonly string[];
  /** Look at the member names of zip archives. */
  scanArchives: boolean;
  /**
   * A zip that cannot be listed whole (damaged, encrypted, data before it, over a limit of zip.ts) was not
   * checked: quarantined or refused, never passed (`filters.unchecked`). Default quarantine.
   */
  unchecked?: 'reject' | 'quarantine';
  /**
   * A zip that is only password-protected (its member names were all read, so blocked types inside are still found),
   * and an archive of a kind Moat does not list (rar, 7z, tar, cab), pass: the office's own mail
   * (`submission.encryptedArchives: send`), whose senders logged in, for the messages it says (to outside recipients).
   */
  encryptedArchivesPass?: SealedPass;
}

/** A file name as Windows acts on it: invisible characters and direction marks gone, trailing dots and spaces dropped. */
export function windowsName(name: string): string {
  return trimEndOf(name.replace(/[\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, ''), /[\s.]/);
}

/**
 * The extension Windows would act on: after the last dot of its windowsName. "invoice.pdf.exe." and
 * "invoice\u202Efdp.exe" both give "exe".
 */
export function effectiveExtension(name: string): string {
  const cleaned = windowsName(name).toLowerCase();
  const base = cleaned.slice(Math.max(cleaned.lastIndexOf('/'), cleaned.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot === -1 ? '' : base.slice(dot + 1).trim();
}

/** Blocks dangerous attachments by name (every name a part gives itself), by content type, and inside zips. */
export class AttachmentFilter implements Filter {
  readonly name = 'attachments';
  readonly role = 'policy';
  private readonly blocked: ReadonlySet<string>;
  private readonly unchecked: 'reject' | 'quarantine';

  constructor(private readonly options: AttachmentOptions) {
    this.blocked = new Set(options.blockedExtensions.map((extension) => extension.toLowerCase().replace(/^\./, '')));
    this.unchecked = options.unchecked ?? 'quarantine';
  }

  async check(message: MessageContext): Promise<FilterResult> {
    const parts = message.mime?.parts ?? [];
    const blocked = parts.flatMap((part) => this.problems(part));
    const unreadable = this.unreadable(parts, this.options.encryptedArchivesPass?.(message) === true);
    const verdicts = [...(blocked.length ? [this.options.action] : []), ...(unreadable.length ? [this.unchecked] : [])];
    if (!verdicts.length) return { filter: this.name, verdict: 'accept', score: 0, reasons: [] };
    return { filter: this.name, verdict: verdicts.includes('reject') ? 'reject' : 'quarantine', score: 0, reasons: [...blocked, ...unreadable] };
  }

  /**
   * Archives that could not be listed whole, or that Moat does not look into at all (by content, or by a name an
   * extractor goes by: the part's, one inside a zip or a gzip, one uuencoded in a text): not checked, so not clean.
   */
  private unreadable(parts: readonly MimePart[], pass: boolean): string[] {
    if (!this.options.scanArchives) return [];
    const reasons: string[] = [];
    for (const part of parts) {
      const label = printable(part.filename ?? part.names[0] ?? `part ${part.part}`);
      const problem = part.archive?.problem;
      if (problem) {
        if (!(pass && (part.archive!.onlyEncrypted || part.archive!.unlisted))) reasons.push(`archive "${label}" not checked: ${printable(problem, 300)}`);
        continue;
      }
      // a file uuencoded in a text is no attachment Moat lists, even a zip: by its first bytes or by a zip's name
      const encoded = (part.encodedFiles ?? []).find((file) => (file.type && ENCODED_ARCHIVE_TYPES.has(file.type)) || effectiveExtension(file.name) === 'zip');
      if (encoded) reasons.push(`archive "${printable(encoded.name)}" not checked: it is uuencoded in the text (${encoded.type ?? 'by its name'}), where Moat does not look inside archives`);
      const named = pass ? null : unlistedByName(part);
      if (named) reasons.push(`archive "${label}" not checked: "${printable(named.name)}" is a .${named.extension} archive, which Moat cannot look inside`);
      const typed = pass ? undefined : part.archive?.members.find((member) => member.type && UNLISTED_INSIDE_TYPES.has(member.type));
      if (typed) reasons.push(`archive "${label}" not checked: "${printable(typed.name)}" is a ${typed.type} archive, which Moat cannot look inside`);
    }
    return reasons.slice(0, 10);
  }

  private problems(part: MimePart): string[] {
    const found: string[] = [];
    const label = part.filename ?? part.names[0] ?? `part ${part.part}`;
    for (const name of part.names) {
      const extension = effectiveExtension(name);
      if (this.blocked.has(extension)) found.push(`blocked attachment type .${extension}: "${printable(name)}"`);
    }
    if (part.detectedType && EXECUTABLE_TYPES.has(part.detectedType)) {
      found.push(`"${printable(label)}" is a program (${part.detectedType}), whatever its name says`);
    }
    for (const file of part.encodedFiles ?? []) {
      if (file.type && EXECUTABLE_TYPES.has(file.type)) found.push(`"${printable(file.name)}" uuencoded in the text is a program (${file.type}), whatever its name says`);
    }
    if (this.options.scanArchives && part.gzip) {
      for (const name of part.gzip.names) {
        const extension = effectiveExtension(name);
        if (this.blocked.has(extension)) found.push(`blocked file type .${extension} inside "${printable(label)}": "${printable(name)}"`);
      }
      const inner = part.gzip.innerType;
      if (inner && EXECUTABLE_TYPES.has(inner)) found.push(`"${printable(label)}" holds a program (${inner})`);
    }
    if (this.options.scanArchives && part.archive) {
      // every name an extractor may use for the member (zip.ts), not only the one most show
      for (const member of part.archive.members) {
        for (const name of [member.name, ...(member.otherNames ?? [])]) {
          const extension = effectiveExtension(name);
          if (this.blocked.has(extension)) found.push(`blocked file type .${extension} inside "${printable(label)}": "${printable(name)}"`);
        }
        if (member.type && EXECUTABLE_TYPES.has(member.type)) found.push(`"${printable(label)}" holds a program (${member.type}): "${printable(member.name)}"`);
      }
    }
    return [...new Set(found)].slice(0, 10);
  }
}

/** A name quoted in a reason: a direction override as U+FFFD, as every screen shows it (util/header-text.ts), other controls '?'. */
function printable(name: string, max = 120): string {
  return name
    .replace(/[\u202a-\u202e\u2066-\u2069]/g, '\ufffd')
    .replace(/[\u0000-\u001f\u007f\u200b-\u200f]/g, '?')
    .slice(0, max);
}

/** Extensions of archive formats Moat does not list (zip it lists; a gzip's one file it looks at). */
const UNLISTED_ARCHIVE_EXTENSIONS: ReadonlySet<string> = new Set([
  '7z', 'ace', 'arj', 'bz2', 'cab', 'cpio', 'gz', 'gzip', 'lha', 'lz', 'lzh', 'lzma', 'rar', 'tar', 'taz', 'tbz', 'tbz2',
  'tgz', 'tlz', 'txz', 'tzst', 'wim', 'xz', 'z', 'zipx', 'zst',
]);
/**
 * A file's types inside a container (a TNEF's files) that Moat does not open there: a gzip is looked into only as an
 * attachment of its own, a TNEF only as the message's (one inside another is no mail program's doing).
 */
const UNLISTED_INSIDE_TYPES: ReadonlySet<string> = new Set([...UNLISTED_ARCHIVE_TYPES, 'gzip', 'tnef']);
/** Archives by their first bytes, of any kind, when uuencoded in a text (MimePart.encodedFiles). */
const ENCODED_ARCHIVE_TYPES: ReadonlySet<string> = new Set([...UNLISTED_INSIDE_TYPES, 'zip']);
/** What a gzip looked into (MimePart.gzip) may be called. */
const GZIP_EXTENSIONS: ReadonlySet<string> = new Set(['gz', 'gzip', 'tgz', 'taz']);

/** The first name an extractor goes by that is an archive Moat does not list, with its extension; null when none. */
function unlistedByName(part: MimePart): { name: string; extension: string } | null {
  // the part's own .gz name is fine once its one file was looked at; that file's names are checked in turn
  const own = part.names.filter((name) => !(part.gzip && GZIP_EXTENSIONS.has(effectiveExtension(name))));
  const inside = [...(part.gzip?.names ?? []), ...(part.archive?.members ?? []).flatMap((member) => [member.name, ...(member.otherNames ?? [])])];
  for (const name of [...own, ...inside]) {
    const extension = effectiveExtension(name);
    if (UNLISTED_ARCHIVE_EXTENSIONS.has(extension)) return { name, extension };
  }
  return null;
}
