// Desktop notifications: through the desktop shell when it injected
// window.discordopusNotify, else the web Notification API.

declare global {
  interface Window {
    discordopusNotify?: (title: string, body: string) => void;
  }
}

let asked = false;

/** Asks for the web notification permission once (no-op inside the desktop shell). */
export function requestNotificationPermission(): void {
  if (asked || typeof window === "undefined") return;
  if (typeof window.discordopusNotify === "function") return;
  if (!("Notification" in window)) return;
  if (Notification.permission !== "default") return;
  asked = true;
  try {
    void Notification.requestPermission();
  } catch {
    // old API without promise: ignore
  }
}

export interface NotifyOptions {
  enabled: boolean;
  showContent: boolean;
}

/** The body of a message notification. */
export function notificationBody(text: string, showContent: boolean): string {
  if (!showContent) return "New message";
  const t = text.replace(/\s+/g, " ").trim();
  if (!t) return "New message";
  return t.length > 140 ? t.slice(0, 139) + "…" : t;
}

/** Whether the page should notify now (it is hidden or not focused). */
export function pageInBackground(doc: Document = document): boolean {
  return doc.visibilityState === "hidden" || !doc.hasFocus();
}

export function showNotification(title: string, body: string): void {
  if (typeof window.discordopusNotify === "function") {
    try {
      window.discordopusNotify(title, body);
    } catch {
      // the shell's problem; never break the page
    }
    return;
  }
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const n = new Notification(title, { body, tag: "discordopus-" + title });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    // some browsers only allow notifications from a service worker
  }
}
