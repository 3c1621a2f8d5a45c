/**
 * Guest identities (PROTOCOL.md section 7): the user id is derived from the
 * name, case-insensitively, so `Alice` and `alice` are one guest. Ids must
 * hold no `:` and no white space (they are parts of `dm:` channel names);
 * such characters are percent-encoded rather than dropped, so two different
 * names never share an id.
 */
export function guestId(name: string): string {
  const folded = name.normalize('NFC').toLowerCase();
  return folded.replace(/[\s:%]/gu, (ch) => {
    let out = '';
    for (const byte of Buffer.from(ch, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
    return out;
  });
}

/** The id the admin's notices are sent from (src/core/admin.ts); no login may take it. */
export const SYSTEM_ID = 'system';

/** Ids reserved for the server: a login that would get one is refused with `name_taken`, as if that user were always online. */
export function isReservedId(id: string): boolean {
  return id === SYSTEM_ID;
}
