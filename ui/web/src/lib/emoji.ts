// A small, dependency-free emoji set for the picker and quick reactions.

export interface EmojiCategory {
  name: string;
  emoji: string[];
}

export const EMOJI_CATEGORIES: EmojiCategory[] = [
  {
    name: "Smileys",
    emoji: ["😀", "😃", "😄", "😁", "😆", "😅", "😂", "🤣", "🙂", "😉", "😊", "😇", "😍", "🥰", "😘", "😋",
      "😜", "🤔", "🤨", "😐", "😏", "😒", "🙄", "😬", "😌", "😴", "😎", "🤓", "😕", "😟", "😮", "😲",
      "😳", "🥺", "😢", "😭", "😱", "😤", "😡", "🤯"],
  },
  {
    name: "Gestures",
    emoji: ["👍", "👎", "👌", "✌️", "🤞", "🤙", "👋", "👏", "🙌", "🙏", "💪", "🤝", "👀", "🫡"],
  },
  {
    name: "Hearts",
    emoji: ["❤️", "🧡", "💛", "💚", "💙", "💜", "🖤", "💔", "💯", "✨"],
  },
  {
    name: "Things",
    emoji: ["🎉", "🎂", "🎁", "🔥", "⭐", "☀️", "🌙", "☕", "🍕", "🍺", "⚽", "🎮", "🎵", "📌", "🔒", "✅"],
  },
];

export const ALL_EMOJI: string[] = EMOJI_CATEGORIES.flatMap((c) => c.emoji);

/** Offered first when reacting. */
export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];
