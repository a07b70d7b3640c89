import type { ServerResponse } from 'node:http';
import { HTTP_ERRORS, sendErrorAnswer } from '../http/router.ts';

/**
 * Every error the admin listener answers with: a stable code, its HTTP status and readable words (STYLE habit 5).
 * Over HTTP a failure is a value `{ ok: false, code, message, issues? }`, never a thrown stack.
 */
export const API_ERRORS = {
  NOT_FOUND: HTTP_ERRORS.NOT_FOUND,
  BAD_TARGET: HTTP_ERRORS.BAD_TARGET,
  METHOD_NOT_ALLOWED: HTTP_ERRORS.METHOD_NOT_ALLOWED,
  UNKNOWN_METHOD: { status: 404, message: 'no such admin API method' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'send the request as application/json' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'the request body is too large' },
  INVALID_JSON: { status: 400, message: 'the request body is not valid JSON' },
  INVALID_INPUT: { status: 400, message: 'some values are not valid (see issues)' },
  UNAUTHENTICATED: { status: 401, message: 'log in first' },
  SETUP_REQUIRED: { status: 403, message: 'this relay is not set up yet: claim it with the setup token' },
  ALREADY_SET_UP: { status: 409, message: 'an admin password is already set: log in with it' },
  BAD_SETUP_TOKEN: { status: 403, message: 'the setup token is wrong (see the relay console or DATA_DIR/setup-token)' },
  WRONG_PASSWORD: { status: 401, message: 'wrong password' },
  LOGIN_RATE_LIMITED: { status: 429, message: 'too many failed log-ins from this address: wait 15 minutes, then try again' },
  PASSWORD_TOO_WEAK: { status: 400, message: 'choose a password of at least 10 characters' },
  BAD_HOST: { status: 421, message: 'this admin listener does not answer to that host name (open it by IP address, localhost or the relay\'s own name)' },
  CSRF: { status: 403, message: 'missing or wrong CSRF token: reload the page' },
  BAD_ORIGIN: { status: 403, message: 'request from another site refused' },
  RELAY_NOT_RUNNING: { status: 503, message: 'the relay is not running (finish the setup, or see its last error)' },
  QUEUE_ITEM_GONE: { status: 404, message: 'that message is no longer in the queue' },
  QUARANTINE_ITEM_GONE: { status: 404, message: 'that message is no longer in quarantine' },
  MESSAGE_NOT_FOUND: { status: 404, message: 'no message with that id was ever seen here' },
  MESSAGE_FILE_GONE: { status: 404, message: 'the message file is gone: Moat keeps it only while the message is queued or in quarantine' },
  PREVIEW_UNREADABLE: { status: 503, message: 'the message could not be read for a preview in time (the relay is very busy, or the message is built to be slow to read): try again, or download it and open it in a text editor' },
  DOWNLOAD_LINK_INVALID: { status: 403, message: 'this download link is not valid (used already, expired, or made for another session): ask for a new one' },
  TOO_MANY_DOWNLOADS: { status: 429, message: 'too many download links are waiting to be used: wait a minute' },
  ACCOUNT_EXISTS: { status: 409, message: 'an account with that name exists already' },
  ACCOUNT_GONE: { status: 404, message: 'no such account' },
  CONFIG_INVALID: { status: 400, message: 'the configuration is not valid (see issues)' },
  CONFIG_FILE_DAMAGED: { status: 500, message: 'the configuration file cannot be read: put it right or restore it from a backup' },
  CONFIG_CHANGED: { status: 409, message: 'the settings were changed elsewhere after this page loaded them: reload to see them' },
  APPLY_FAILED: { status: 500, message: 'the new configuration could not be started; the previous one is running again' },
  CERTIFICATE_INVALID: { status: 400, message: 'the certificate or key is not valid PEM, or they do not belong together' },
  BACKUP_FAILED: { status: 500, message: 'the backup could not be written' },
  CHECKLIST_ITEM_GONE: { status: 404, message: 'no such checklist item' },
  SENDER_ENTRY_GONE: { status: 404, message: 'that address or domain is on neither sender list' },
  PERSONAL_ENTRY_GONE: { status: 404, message: "that address or domain is on neither of this recipient's own lists" },
  PERSONAL_LIST_FULL: { status: 409, message: "this recipient's own lists are full (500 entries): remove some before adding more" },
  DISK_FULL: { status: 507, message: "a disk the relay writes to is full (its data folder's, or the one moat.json is on): nothing was changed. Free some space; while the data folder's disk is full, mail is refused with a 4xx (senders try again later)" },
  INTERNAL: HTTP_ERRORS.INTERNAL,
  UNAVAILABLE: HTTP_ERRORS.UNAVAILABLE,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** A field that failed validation: its path in the input (or the config), and why. */
export interface ApiIssue {
  path: string;
  message: string;
}

/** Answers with an admin API error: `{ ok: false, code, message, issues? }` (http/router.ts `sendErrorAnswer`). */
export function sendApiError(res: ServerResponse, code: ApiErrorCode, message?: string, issues?: ApiIssue[]): void {
  sendErrorAnswer(res, code, API_ERRORS[code], message, issues);
}

/** Thrown inside a handler; the transport turns it into `{ ok: false, code, message, issues }`. */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message?: string,
    readonly issues?: ApiIssue[],
  ) {
    super(message ?? API_ERRORS[code].message);
  }
}
