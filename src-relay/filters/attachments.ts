import { EXECUTABLE_TYPES } from './file-type.ts';
import type { Filter, FilterResult, MessageContext, MimePart } from './types.ts';

/**
 * Extensions that Windows runs, installs or mounts when double-clicked (or that Office opens with macros run),
 * the ones mail-borne malware uses; the admin can replace the list (`filters.attachments.blockedExtensions`).
 */
export const DEFAULT_BLOCKED_EXTENSIONS: readonly string[] = [
  'ade', 'adp', 'app', 'application', 'appx', 'appxbundle', 'bas', 'bat', 'cab', 'chm', 'cmd', 'com', 'cpl', 'crt', 'dll', 'diagcab',
  'exe', 'gadget', 'hlp', 'hta', 'img', 'inf', 'ins', 'iso', 'isp', 'jar', 'js', 'jse', 'lib', 'lnk', 'mde', 'msc', 'msi', 'msix',
  'msp', 'mst', 'pif', 'ps1', 'psm1', 'reg', 'scf', 'scr', 'sct', 'settingcontent-ms', 'shb', 'sys', 'url', 'vb', 'vbe', 'vbs',
  'vhd', 'vhdx', 'wsc', 'wsf', 'wsh', 'xll',
];

export interface AttachmentOptions {
  action: 'reject' | 'quarantine';
  blockedExtensions: readonly string[];
  /** Look at the member names of zip archives. */
  scanArchives: boolean;
}

/**
 * The extension Windows would act on: after the last dot, once trailing dots and spaces (which Windows drops) and
 * invisible direction marks are gone. "invoice.pdf.exe." and "invoice\u202Efdp.exe" both give "exe".
 */
export function effectiveExtension(name: string): string {
  const cleaned = name
    .replace(/[\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '')
    .replace(/[\s.]+$/, '')
    .toLowerCase();
  const base = cleaned.slice(Math.max(cleaned.lastIndexOf('/'), cleaned.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot === -1 ? '' : base.slice(dot + 1).trim();
}

/** Blocks dangerous attachments by name (every name a part gives itself), by content type, and inside zips. */
export class AttachmentFilter implements Filter {
  readonly name = 'attachments';
  readonly role = 'policy';
  private readonly blocked: ReadonlySet<string>;

  constructor(private readonly options: AttachmentOptions) {
    this.blocked = new Set(options.blockedExtensions.map((extension) => extension.toLowerCase().replace(/^\./, '')));
  }

  async check(message: MessageContext): Promise<FilterResult> {
    const reasons = (message.mime?.parts ?? []).flatMap((part) => this.problems(part));
    return reasons.length
      ? { filter: this.name, verdict: this.options.action, score: 0, reasons }
      : { filter: this.name, verdict: 'accept', score: 0, reasons: [] };
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
    if (this.options.scanArchives && part.archive) {
      for (const member of part.archive.members) {
        const extension = effectiveExtension(member.name);
        if (this.blocked.has(extension)) found.push(`blocked file type .${extension} inside "${printable(label)}": "${printable(member.name)}"`);
      }
    }
    return [...new Set(found)].slice(0, 10);
  }
}

function printable(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, '?').slice(0, 120);
}
