// Reaction chips: counting, and what a click on a chip does.
import type { Reaction } from "../api";

export interface ReactionChip {
  emoji: string;
  count: number;
  mine: boolean;
}

/** Groups reactions by emoji, in order of first appearance. */
export function summarizeReactions(reactions: readonly Reaction[] | undefined): ReactionChip[] {
  if (!reactions || reactions.length === 0) return [];
  const byEmoji = new Map<string, ReactionChip>();
  for (const r of reactions) {
    let chip = byEmoji.get(r.emoji);
    if (!chip) {
      chip = { emoji: r.emoji, count: 0, mine: false };
      byEmoji.set(r.emoji, chip);
    }
    chip.count++;
    if (r.mine) chip.mine = true;
  }
  return [...byEmoji.values()];
}

/** Whether clicking `emoji` removes our reaction (true) or adds it (false). */
export function isRemoval(reactions: readonly Reaction[] | undefined, emoji: string): boolean {
  return !!reactions?.some((r) => r.mine && r.emoji === emoji);
}

/** The reactions as they will be once our toggle of `emoji` is applied (optimistic update). */
export function toggleReaction(reactions: readonly Reaction[] | undefined, emoji: string): Reaction[] {
  const list = reactions ? [...reactions] : [];
  const i = list.findIndex((r) => r.mine && r.emoji === emoji);
  if (i >= 0) {
    list.splice(i, 1);
    return list;
  }
  list.push({ emoji, mine: true });
  return list;
}
