// Typing indicators. Outgoing: tell the peer we type at most every 3 s, and
// that we stopped after 5 s idle or when the message is sent. Incoming: a
// "typing" event shows for 6 s unless refreshed.

export const TYPING_THROTTLE_MS = 3000;
export const TYPING_IDLE_MS = 5000;
export const TYPING_SHOW_MS = 6000;

type Timer = ReturnType<typeof setTimeout>;

export class TypingSender {
  private typing = false;
  private lastSent = -Infinity;
  private idle: Timer | null = null;

  constructor(
    private send: (typing: boolean) => void,
    private throttleMs = TYPING_THROTTLE_MS,
    private idleMs = TYPING_IDLE_MS,
  ) {}

  /** Call on every edit of the composer. Empty text means "stopped". */
  input(text: string): void {
    if (!text.trim()) {
      this.stop();
      return;
    }
    const now = Date.now();
    if (!this.typing || now - this.lastSent >= this.throttleMs) {
      this.typing = true;
      this.lastSent = now;
      this.send(true);
    }
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), this.idleMs);
  }

  /** Call on send, on switching conversation, or when the composer goes away. */
  stop(): void {
    if (this.idle) {
      clearTimeout(this.idle);
      this.idle = null;
    }
    if (this.typing) {
      this.typing = false;
      this.lastSent = -Infinity;
      this.send(false);
    }
  }

  get isTyping(): boolean {
    return this.typing;
  }
}
