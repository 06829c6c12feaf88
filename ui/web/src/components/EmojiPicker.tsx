import { useEffect, useRef } from "react";
import { EMOJI_CATEGORIES, QUICK_REACTIONS } from "../lib/emoji";
import { useClickOutside, useEscape } from "./hooks";

/** A small emoji grid; used by the composer and for reactions. */
export function EmojiPicker({
  onPick,
  onClose,
  quick = false,
  style,
  label = "Emoji",
  ignore,
}: {
  onPick: (emoji: string) => void;
  onClose: () => void;
  /** Show the quick reactions row first. */
  quick?: boolean;
  style?: React.CSSProperties;
  label?: string;
  /** Clicks inside this element (the button that toggles the picker) don't close it. */
  ignore?: React.RefObject<HTMLElement>;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEscape(onClose);
  useClickOutside(ref, onClose, true, ignore);
  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>("button")?.focus({ preventScroll: true });
  }, []);

  function onKeyDown(e: React.KeyboardEvent) {
    const keys: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 8, ArrowUp: -8 };
    const step = keys[e.key];
    if (!step || !ref.current) return;
    const buttons = [...ref.current.querySelectorAll<HTMLButtonElement>("button[data-emoji]")];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0) return;
    e.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, at + step))]?.focus();
  }

  const option = (emoji: string, key: string) => (
    <button
      key={key}
      type="button"
      className="emoji-option"
      data-testid="emoji-option"
      data-emoji={emoji}
      aria-label={emoji}
      onClick={() => onPick(emoji)}
    >
      {emoji}
    </button>
  );

  return (
    <div ref={ref} className="emoji-picker" data-testid="emoji-picker" role="dialog" aria-label={label} style={style} onKeyDown={onKeyDown}>
      {quick && (
        <div className="emoji-quick" role="group" aria-label="Quick reactions">
          {QUICK_REACTIONS.map((e) => option(e, "q" + e))}
        </div>
      )}
      <div className="emoji-scroll">
        {EMOJI_CATEGORIES.map((cat) => (
          <section key={cat.name} aria-label={cat.name}>
            <h4>{cat.name}</h4>
            <div className="emoji-grid">{cat.emoji.filter((e) => !quick || !QUICK_REACTIONS.includes(e)).map((e) => option(e, e))}</div>
          </section>
        ))}
      </div>
    </div>
  );
}
