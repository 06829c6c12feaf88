// A tiny external store: one Model, subscribers, and a hook with selectors.
import { useSyncExternalStore } from "react";
import { initialModel, type Model } from "./model";

type Listener = () => void;

export class Store<T> {
  private listeners = new Set<Listener>();
  constructor(private state: T) {}

  get = (): T => this.state;

  set = (update: Partial<T> | ((s: T) => Partial<T> | T)): void => {
    const patch = typeof update === "function" ? update(this.state) : update;
    if (patch === this.state) return;
    this.state = { ...this.state, ...patch };
    for (const l of [...this.listeners]) l();
  };

  subscribe = (l: Listener): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
}

export const store = new Store<Model>(initialModel());

/** Re-renders when the selected slice changes (selectors must return stored values, not new objects). */
export function useModel<S>(select: (m: Model) => S): S {
  return useSyncExternalStore(store.subscribe, () => select(store.get()));
}
