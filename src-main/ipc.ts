import { z } from 'zod';
import { attachTestSchema, managedRelayChoiceSchema } from './attach.ts';
import { IPC_CHANNELS, IPC_ERRORS, type AttachTestInput, type CloseAction, type AttachTestResult, type BridgeResult, type DesktopPreferences, type IpcErrorCode, type ManagedRelayChoice, type MoatBridge, type NotificationChoices, type RelayStatus } from './bridge.ts';
import { notificationChoicesSchema } from './preferences.ts';
import { isTrustedSender, type SenderFrame } from './security.ts';

/**
 * The main side of the bridge: one handler per channel, each taking `unknown`, checking who sent it and what it
 * is, and answering with a BridgeResult (STYLE habits 4 and 5). Effects come in as `IpcEffects`.
 */

/** Each invoke channel's input schema; a method without input accepts only `undefined`. */
export const IPC_INPUTS = {
  getPreferences: z.undefined(),
  setNotificationChoices: notificationChoicesSchema,
  setStartAtLogin: z.boolean(),
  setCloseAction: z.enum(['tray', 'quit']),
  chooseManagedRelay: managedRelayChoiceSchema,
  testAttach: attachTestSchema,
  showSampleNotification: z.undefined(),
  getRelayStatus: z.undefined(),
  retryRelay: z.undefined(),
} satisfies Record<InvokeMethod, z.ZodType>;

type InvokeMethod = Exclude<keyof MoatBridge, 'onNavigate' | 'onRelayStatus'>;

export interface IpcEffects {
  getPreferences(): DesktopPreferences;
  setNotificationChoices(choices: NotificationChoices): Promise<DesktopPreferences> | DesktopPreferences;
  setStartAtLogin(enabled: boolean): Promise<DesktopPreferences> | DesktopPreferences;
  setCloseAction(action: CloseAction): DesktopPreferences;
  chooseManagedRelay(choice: ManagedRelayChoice): Promise<DesktopPreferences> | DesktopPreferences;
  testAttach(input: AttachTestInput): Promise<AttachTestResult>;
  showSampleNotification(): null;
  getRelayStatus(): RelayStatus;
  retryRelay(): Promise<RelayStatus> | RelayStatus;
}

/** What an Electron IpcMainInvokeEvent carries that the check reads. */
export interface InvokeEvent {
  senderFrame: SenderFrame | null;
}

export type IpcHandler = (event: InvokeEvent, input: unknown) => Promise<BridgeResult<unknown>>;

function refuse(code: IpcErrorCode, detail?: string): BridgeResult<never> {
  return { ok: false, code, message: detail ? `${IPC_ERRORS[code]}: ${detail}` : IPC_ERRORS[code] };
}

/** The handlers by channel name, ready for `ipcMain.handle(channel, handler)`. */
export function createIpcHandlers(effects: IpcEffects, onError: (method: string, error: Error) => void = () => {}): Record<string, IpcHandler> {
  const handlers: Record<string, IpcHandler> = {};
  for (const method of Object.keys(IPC_INPUTS) as InvokeMethod[]) {
    const schema: z.ZodType = IPC_INPUTS[method];
    handlers[IPC_CHANNELS[method]] = async (event, input) => {
      if (!isTrustedSender(event?.senderFrame)) return refuse('FORBIDDEN');
      const parsed = schema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return refuse('INVALID_INPUT', issue ? `${issue.path.join('.') || 'input'}: ${issue.message}` : undefined);
      }
      try {
        const run = effects[method] as (value: unknown) => unknown;
        return { ok: true, result: await run.call(effects, parsed.data) };
      } catch (error) {
        onError(method, error as Error);
        return refuse('INTERNAL');
      }
    };
  }
  return handlers;
}
