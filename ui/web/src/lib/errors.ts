// Human words for the API's error codes, per place they can happen.
import { ApiError } from "../api";

const COMMON: Record<string, string> = {
  network: "Can't reach DiscordOpus. Is it still running?",
  locked: "DiscordOpus is still starting. Try again in a moment.",
  internal: "Something went wrong inside DiscordOpus.",
};

const BY_CONTEXT: Record<string, Record<string, string>> = {
  send: {
    too_long: "Message is too long (8 KiB max)",
    empty: "Type a message first.",
    not_utf8: "This message contains characters that can't be sent.",
    blocked: "You blocked this contact. Unblock them to send messages.",
    not_accepted: "Accept this message request before replying.",
    no_contact: "This contact no longer exists.",
    not_found: "This conversation no longer exists.",
  },
  addContact: {
    bad_invite: "That invite is not valid — check it was copied whole.",
    identity_changed:
      "This contact's safety number changed since you added them. Replace it only if you trust the new invite.",
    name_taken: "You already have a contact with that name. Pick another name.",
    bad_name: "That name can't be used. Use a short name without control characters.",
    self: "That's your own invite. Paste the invite of the person you want to add.",
  },
  react: {
    bad_emoji: "That reaction can't be sent.",
    blocked: "You blocked this contact.",
  },
  setup: {
    weak_passphrase: "That passphrase is too weak. Use a longer one, e.g. a few unrelated words.",
    exists: "An identity already exists on this computer. Reload to unlock it.",
  },
  unlock: {
    wrong_passphrase: "Wrong passphrase. Try again.",
  },
};

/** The sentence to show for an error raised in `context`. */
export function humanError(err: unknown, context?: keyof typeof BY_CONTEXT): string {
  if (err instanceof ApiError) {
    const specific = context ? BY_CONTEXT[context]?.[err.code] : undefined;
    if (specific) return specific;
    if (COMMON[err.code] && (err.code === "network" || !err.message)) return COMMON[err.code];
    return err.message || COMMON[err.code] || "Something went wrong.";
  }
  if (err instanceof Error && err.message) return err.message;
  return "Something went wrong.";
}
