import { useEffect, useRef } from "react";
import { pushEscape } from "../lib/escape";

/** Registers an Escape handler while `active`. */
export function useEscape(fn: () => void, active = true): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!active) return;
    return pushEscape(() => ref.current());
  }, [active]);
}

/** Calls fn when a pointer goes down outside the element. */
export function useClickOutside(
  ref: React.RefObject<HTMLElement>,
  fn: () => void,
  active = true,
  ignore?: React.RefObject<HTMLElement>,
): void {
  const cb = useRef(fn);
  cb.current = fn;
  useEffect(() => {
    if (!active) return;
    const h = (e: PointerEvent) => {
      const t = e.target as Node;
      if (ignore?.current?.contains(t)) return;
      if (ref.current && !ref.current.contains(t)) cb.current();
    };
    // Registered on the next tick so the click that opened it doesn't close it.
    const t = setTimeout(() => document.addEventListener("pointerdown", h), 0);
    return () => {
      clearTimeout(t);
      document.removeEventListener("pointerdown", h);
    };
  }, [ref, active, ignore]);
}
