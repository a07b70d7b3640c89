import { parseMessageFile, type ParsedMessage } from '../filters/mime.ts';
import type { MimePart } from '../filters/types.ts';

/** Text shown in a preview; a preview is for judging a message, not reading a long one. */
const PREVIEW_TEXT_CHARS = 8 * 1024;
/** Header fields shown in a preview. */
const PREVIEW_HEADERS = 60;
/**
 * How long a preview's MIME walk may take (ms). The walk's own limits bound it (a hostile 25 MB message: about a
 * second); this bounds a walk slowed by a busy filter thread, so an admin's or a user's click gets an answer.
 */
export const PREVIEW_DEADLINE_MS = 10_000;

/** A safe look at any message file (quarantined or queued): header fields, its text, the list of attachments. */
export interface MessagePreview {
  /** Header fields as received (unfolded); values are text, never interpreted. */
  headers: { name: string; value: string }[];
  /** The plain text (or the HTML's text with every tag removed: nothing is rendered, nothing is fetched). */
  text: string;
  attachments: Pick<MimePart, 'part' | 'filename' | 'contentType' | 'size' | 'detectedType' | 'archive'>[];
  /** The text was longer than a preview shows (PREVIEW_TEXT_CHARS). */
  truncated: boolean;
}

/** The MIME walk of a preview: the filter thread's in the relay, so a hostile message costs the SMTP thread nothing. */
export type PreviewWalk = (path: string, signal: AbortSignal) => Promise<ParsedMessage>;

/** The walk stopped at its deadline or failed (the filter thread stopped): the message is there, its preview is not. */
export class PreviewUnreadable extends Error {}

/**
 * Reads a message file as a preview: nothing rendered, nothing fetched; the text cut at PREVIEW_TEXT_CHARS.
 * A file that is gone rejects with its ENOENT; a walk that fails otherwise, with PreviewUnreadable.
 */
export async function messagePreview(path: string, walk: PreviewWalk = parseMessageFile, deadlineMs = PREVIEW_DEADLINE_MS): Promise<MessagePreview> {
  const parsed = await walk(path, AbortSignal.timeout(deadlineMs)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw error;
    throw new PreviewUnreadable(error.name === 'AbortError' || error.name === 'TimeoutError' ? `the message could not be read within ${deadlineMs / 1000} s` : `the message could not be read: ${error.message}`);
  });
  return {
    headers: parsed.headers.slice(0, PREVIEW_HEADERS),
    text: parsed.summary.text.slice(0, PREVIEW_TEXT_CHARS),
    truncated: parsed.summary.text.length > PREVIEW_TEXT_CHARS,
    attachments: parsed.summary.parts
      .filter((part) => part.filename !== null || part.disposition === 'attachment' || !part.contentType.startsWith('text/'))
      .map(({ part, filename, contentType, size, detectedType, archive }) => ({ part, filename, contentType, size, detectedType, archive })),
  };
}

/**
 * Previews read at once. Each is a MIME walk of up to 25 MB in the filter thread, beside the mail's own walks: a
 * page asked for 30 times a minute (the users' page allows that) must not keep the thread from the mail.
 */
export const PREVIEWS_AT_ONCE = 2;
/** Recent previews kept by message id: a spool file never changes, so a page reloaded is not walked again. */
export const PREVIEWS_KEPT = 16;
/** How long a kept preview is used (ms). */
export const PREVIEW_KEPT_MS = 5 * 60_000;

/**
 * The previews of the admin page and the users' page: one walk for every look at the same message at once or within
 * PREVIEW_KEPT_MS, and at most PREVIEWS_AT_ONCE walks of different messages; one more is refused at once
 * (PreviewUnreadable), before any work, and may be asked again.
 */
export class Previews {
  private readonly kept = new Map<string, { at: number; preview: Promise<MessagePreview> }>();
  private reading = 0;

  constructor(
    private readonly read: (id: string) => Promise<MessagePreview>,
    private readonly clock: () => number,
  ) {}

  of(id: string): Promise<MessagePreview> {
    const now = this.clock();
    const hit = this.kept.get(id);
    if (hit && now - hit.at < PREVIEW_KEPT_MS) return hit.preview;
    if (this.reading >= PREVIEWS_AT_ONCE) return Promise.reject(new PreviewUnreadable(`the relay is reading ${PREVIEWS_AT_ONCE} other previews`));
    this.reading += 1;
    // a reader that throws at once rejects like one that fails later: the count always goes down again
    const preview = Promise.resolve(id).then(this.read).finally(() => {
      this.reading -= 1;
    });
    this.kept.delete(id);
    this.kept.set(id, { at: now, preview });
    // a failed read is not kept: the next look tries again
    preview.catch(() => {
      if (this.kept.get(id)?.preview === preview) this.kept.delete(id);
    });
    for (const oldest of this.kept.keys()) {
      if (this.kept.size <= PREVIEWS_KEPT) break;
      this.kept.delete(oldest);
    }
    return preview;
  }
}
