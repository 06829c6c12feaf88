import type { DeliveryState } from "../api";
import { tickFor } from "../lib/ticks";

/** Signal-style delivery marks for an outgoing message. */
export function DeliveryTick({ state }: { state?: DeliveryState }) {
  const tick = tickFor({ outgoing: true, kind: "text", state });
  if (!tick) return null;
  return (
    <span className={`tick tick-${tick.icon}`} data-testid="delivery-tick" data-state={tick.state} title={tick.label} aria-label={tick.label} role="img">
      {renderIcon(tick.icon)}
    </span>
  );
}

function renderIcon(icon: string) {
  switch (icon) {
    case "clock":
      return (
        <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
          <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" strokeWidth="1.5" />
          <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
        </svg>
      );
    case "single":
      return (
        <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
          <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" strokeWidth="1.3" />
          <path d="M5.3 8.2l1.8 1.8 3.6-3.8" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
        </svg>
      );
    case "double":
      return (
        <svg viewBox="0 0 24 16" width="21" height="14" aria-hidden="true">
          <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" strokeWidth="1.3" />
          <circle cx="16" cy="8" r="6" fill="var(--chat)" stroke="currentColor" strokeWidth="1.3" />
          <path d="M13.3 8.2l1.8 1.8 3.6-3.8" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
        </svg>
      );
    case "double-filled":
      return (
        <svg viewBox="0 0 24 16" width="21" height="14" aria-hidden="true">
          <circle cx="8" cy="8" r="6.5" fill="currentColor" />
          <circle cx="16" cy="8" r="6.5" fill="currentColor" stroke="var(--chat)" strokeWidth="1.2" />
          <path d="M13.3 8.2l1.8 1.8 3.6-3.8" fill="none" stroke="var(--chat)" strokeWidth="1.6" strokeLinecap="round" />
        </svg>
      );
    default:
      return (
        <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
          <circle cx="8" cy="8" r="7" fill="currentColor" />
          <path d="M8 4v5" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" />
          <circle cx="8" cy="11.6" r="1" fill="#fff" />
        </svg>
      );
  }
}
