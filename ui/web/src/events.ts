// The one WebSocket to /api/events, reconnecting with backoff.
import type { ApiEvent } from "./api";
import { Backoff } from "./lib/backoff";

export interface EventStreamOptions {
  url: () => string;
  onEvent: (ev: ApiEvent) => void;
  /** "open" after the socket opened, "closed" each time it closed or failed to open. */
  onStatus: (status: "open" | "closed") => void;
  /** Called before every reconnect attempt with the number of failed attempts so far. */
  onRetry?: (attempt: number) => void;
  WebSocketImpl?: typeof WebSocket;
  backoff?: Backoff;
}

export class EventStream {
  private ws: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private readonly backoff: Backoff;
  private readonly WS: typeof WebSocket;

  constructor(private opts: EventStreamOptions) {
    this.backoff = opts.backoff ?? new Backoff();
    this.WS = opts.WebSocketImpl ?? WebSocket;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.onerror = null;
      ws.onopen = null;
      ws.close();
    }
  }

  get connected(): boolean {
    return !!this.ws && this.ws.readyState === this.WS.OPEN;
  }

  /** Skips the wait when a reconnect is pending (e.g. the node just started). */
  reconnectNow(): void {
    if (this.stopped || this.ws) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.backoff.reset();
    this.connect();
  }

  private connect(): void {
    this.timer = null;
    let ws: WebSocket;
    try {
      ws = new this.WS(this.opts.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.opts.onStatus("open");
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data !== "string") return;
      let ev: ApiEvent;
      try {
        ev = JSON.parse(e.data) as ApiEvent;
      } catch {
        return;
      }
      if (!ev || typeof ev !== "object" || typeof ev.type !== "string") return;
      if (ev.type === "hello") this.backoff.reset();
      this.opts.onEvent(ev);
    };
    ws.onerror = () => {
      // a close event follows
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.opts.onStatus("closed");
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.backoff.next();
    const attempt = this.backoff.attempts;
    this.timer = setTimeout(() => {
      this.opts.onRetry?.(attempt);
      if (!this.stopped) this.connect();
    }, delay);
  }
}
