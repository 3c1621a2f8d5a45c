/**
 * Built-in avatars: ids a client may pick at login instead of an image URL,
 * served as SVG files under /avatars/<id>.svg by the UI.
 */
export const BUILTIN_AVATARS = [
  'cat', 'dog', 'fox', 'owl', 'panda', 'koala', 'tiger', 'frog', 'penguin', 'whale', 'bee', 'octopus',
] as const;

const builtin: ReadonlySet<string> = new Set(BUILTIN_AVATARS);

export function isBuiltinAvatar(id: string): boolean {
  return builtin.has(id);
}

/** An http(s) URL of reasonable length, or a built-in id; anything else is refused. */
export function isValidAvatar(avatar: string): boolean {
  if (isBuiltinAvatar(avatar)) return true;
  // NUL: the URL parser would take it (percent-encoded), but PostgreSQL cannot store the raw string.
  if (avatar.length > 512 || !/^https?:\/\//i.test(avatar) || avatar.includes('\u0000')) return false;
  try {
    const url = new URL(avatar);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false; // not a URL: refused as bad_request by the caller
  }
}

/** The server's pick for a user who chose none: stable per user id. */
export function defaultAvatar(userId: string): string {
  let h = 0;
  for (let i = 0; i < userId.length; i++) h = (h * 31 + userId.charCodeAt(i)) >>> 0;
  return BUILTIN_AVATARS[h % BUILTIN_AVATARS.length] as string;
}
