import type { Verdict } from '../events.ts';
import type { EarlySpf } from './sender-auth.ts';
import type { StartedCheck } from './filter-thread.ts';

/**
 * The filter contract (DESIGN.md "A message's path"): each filter looks at one message and returns a verdict with a
 * score and reasons in plain words; the policy turns all verdicts into one action, and only the SMTP layer picks
 * reply codes. Filters never throw on purpose: the runner turns a throw, a hang or a double answer into `tempfail`.
 */
export interface FilterResult {
  filter: string;
  verdict: Verdict;
  /** Junk score contributed (may be 0 or negative); summed by the policy. */
  score: number;
  /** Plain words for the decision trace, e.g. "EICAR-Test-File found by ClamAV". */
  reasons: string[];
  /** Header fields this filter wants on the delivered message (e.g. an Authentication-Results part). */
  headers?: { name: string; value: string }[];
  /**
   * The filter's engine could not be reached or did not answer (clamd down): the pipeline applies the filter's
   * `filters.failMode` (closed: tempfail, open: tag and deliver) instead of the verdict given.
   */
  unavailable?: boolean;
  /**
   * How long the filter worked on the message (ms), for one whose work began before the pipeline asked (sender
   * authentication starts in the filter thread with the MIME walk): the trace shows the longer of this and the wait.
   */
  ms?: number;
  /**
   * Sender authentication's passes, as data for the rules of a later stage: the From domains DMARC passed for, the
   * signing domains (d=) of the DKIM signatures that verified, and the domain SPF passed for, lower-case.
   */
  passed?: { dmarc: string[]; dkim: string[]; spf?: string[] };
}

/** One leaf part of the message as Moat's own MIME parser saw it (filters/mime.ts), streamed from the spool file. */
export interface MimePart {
  /**
   * Part number as IMAP counts them, e.g. "1.2" ("1" for a single-part message); the parts of a message attached
   * as part 2 (forwarded as an attachment) are "2.1", "2.2", ...
   */
  part: string;
  contentType: string;
  disposition: string | null;
  /** File name decoded from RFC 2047 encoded words and RFC 2231 parameters; null when the part has none. */
  filename: string | null;
  /**
   * Every name the part gives itself (Content-Disposition filename and Content-Type name, decoded), since mail
   * programs differ in which one they show and save under: each form of a name given twice, each reading of a
   * name with a comment in it, a name with a control character also up to that character ("evil.js\0.txt" as
   * "evil.js"), the Content-Name and X-Sun-Data-Name fields some programs read, and for a text part the names of
   * the files uuencoded in it ("begin 644 name") or yEnc-encoded ("=ybegin ... name=name").
   */
  names: string[];
  transferEncoding: string;
  /** Decoded size in bytes. */
  size: number;
  /** What the first bytes say the content is ("pe-executable", "zip", "pdf", ...); null when not recognised. */
  detectedType: string | null;
  /**
   * For zip archives: the members listed in the central directories (bounded; nested zips' members as
   * "inner.zip/name"), and why the archive could not be listed whole (`problem`: damaged, encrypted, over a limit).
   * `otherNames`: the other names an extractor may give a member (Unicode Path field, other decoding, cut at a NUL).
   * For the archives Moat does not list (rar, 7z, tar, cab, one inside a gzip; `unlisted`) and a damaged gzip: the
   * problem only. For a TNEF (winmail.dat, tnef.ts): the files it holds, each with the `type` its first bytes say.
   */
  archive?: { members: { name: string; otherNames?: string[]; encrypted: boolean; size: number; type?: string | null }[]; problem: string | null; onlyEncrypted?: boolean; unlisted?: boolean };
  /**
   * For a text part: the files uuencoded (or begin-base64) in it, each with what its first decoded bytes say it is
   * (a mail program turns them into attachments; Moat does not list archives there).
   */
  encodedFiles?: { name: string; type: string | null }[];
  /** For gzip: the names its one file may be saved under, and what that file's first bytes say it is. */
  gzip?: { names: string[]; innerType: string | null };
}

/**
 * What the MIME parser found in a message: every leaf part (those of attached messages included), the start of its
 * own text, and oddities.
 */
export interface MimeSummary {
  parts: MimePart[];
  /** Decoded text of the text/plain parts, or of the HTML with tags removed when there is none (bounded). */
  text: string;
  /** Visible characters in text/plain parts and in HTML parts (tags removed), counted over the whole message. */
  plainChars: number;
  htmlChars: number;
  /** Oddities that are merely suspicious, in plain words ("a multipart part has no boundary", "unknown charset"); scored. */
  anomalies: string[];
  /**
   * What the walk could not look at, in plain words naming the limit ("more than 500 MIME parts", "part 2 has
   * 2 Content-Type fields (ambiguous MIME)"). Not empty: the message was not checked whole, and the pipeline
   * quarantines or refuses it (`filters.unchecked`); it is never treated as clean.
   */
  unchecked: string[];
  /**
   * Content sealed by its sender (S/MIME signed or encrypted as a whole, PGP/MIME encrypted), which Moat cannot open:
   * not checked, as `unchecked`, except in the office's own mail when `submission.encryptedArchives` is `send`.
   */
  sealed: string[];
}

/** What a content filter may read about one message: the file always, its bytes in memory only up to 64 KB (`content`). */
export interface MessageContext {
  queueId: string;
  clientIp: string;
  helo: string | null;
  sender: string;
  recipients: string[];
  /** Path of the message as spooled (CRLF, with our Received header on top). */
  path: string;
  size: number;
  /**
   * The whole message, when it was small enough to read once for every filter (filters/message-source.ts); absent
   * for a larger one: read `path` with `messageStream`.
   */
  content?: Buffer | null;
  /** The header block, unfolded, as name/value pairs in order (bounded in size). */
  headers: { name: string; value: string }[];
  tls: boolean;
  /** Set on the submission listeners after AUTH. */
  authenticatedUser: string | null;
  /** The MIME structure, parsed once by the pipeline before the filters run (absent when parsing failed). */
  mime?: MimeSummary;
  /** Results of the filters of earlier stages (see `Filter.stage`), in the order they were configured. */
  results?: readonly FilterResult[];
  /** The SPF check the mx listener started at MAIL FROM for this transaction (sender-auth uses it instead of asking again). */
  earlySpf?: EarlySpf;
  /** Sender authentication's check, when it went to the filter thread with the MIME walk (the sender-auth filter waits for it). */
  senderCheck?: StartedCheck;
}

/**
 * What a filter is for, as the sender allow-list sees it: an allowed sender skips `junk` filters (and the score
 * thresholds) but never `virus` or `policy` ones. Absent means `policy`.
 */
/**
 * Whether a message from the office may carry content Moat cannot open (a password-protected zip, a rar, S/MIME
 * sealed as a whole) without being stopped for it: `submission.encryptedArchives: send`, for mail to outside
 * recipients (filters/content-filters.ts).
 */
export type SealedPass = (message: Pick<MessageContext, 'recipients'>) => boolean;

export type FilterRole = 'junk' | 'virus' | 'policy';

export interface Filter {
  readonly name: string;
  readonly role?: FilterRole;
  /**
   * Filters of one stage run in parallel; a later stage sees the earlier stages' results in `message.results`
   * (the built-in rules run in stage 1 to read sender authentication). Absent means 0.
   */
  readonly stage?: number;
  /** `signal` aborts at the filter's deadline; a filter should stop work then. */
  check(message: MessageContext, signal: AbortSignal): Promise<FilterResult>;
}
