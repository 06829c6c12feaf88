import { useEffect, useRef, type ReactNode } from "react";
import { useEscape } from "./hooks";

/** A modal dialog: Escape, the close button or a click on the backdrop closes it. */
export function Dialog({
  title,
  onClose,
  children,
  testId,
  wide = false,
  className = "",
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  testId?: string;
  wide?: boolean;
  className?: string;
}) {
  const panel = useRef<HTMLDivElement>(null);
  const returnFocus = useRef<Element | null>(null);
  useEscape(onClose);
  useEffect(() => {
    returnFocus.current = document.activeElement;
    const first = panel.current?.querySelector<HTMLElement>("[data-autofocus], input, textarea, select");
    (first ?? panel.current)?.focus();
    return () => {
      const el = returnFocus.current as HTMLElement | null;
      if (el && document.contains(el) && typeof el.focus === "function") el.focus();
    };
  }, []);
  const titleId = "dlg-" + title.replace(/\W+/g, "-").toLowerCase();
  return (
    <div
      className="backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div
        ref={panel}
        className={`dialog ${wide ? "wide" : ""} ${className}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid={testId}
        tabIndex={-1}
        onKeyDown={(e) => {
          if (e.key === "Tab") trapTab(e, panel.current);
        }}
      >
        <header className="dialog-head">
          <h2 id={titleId}>{title}</h2>
          <button type="button" className="icon-btn" data-testid="dialog-close" aria-label="Close" onClick={onClose}>
            ✕
          </button>
        </header>
        <div className="dialog-body">{children}</div>
      </div>
    </div>
  );
}

function trapTab(e: React.KeyboardEvent, root: HTMLElement | null) {
  if (!root) return;
  const items = [
    ...root.querySelectorAll<HTMLElement>(
      "button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex='-1'])",
    ),
  ];
  if (items.length === 0) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
}
