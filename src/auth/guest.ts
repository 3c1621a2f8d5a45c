/**
 * Guest identities (docs/protocol.md, "Identity"): the user id is derived
 * from the name, case-insensitively, so `Alice` and `alice` are one guest.
 * Ids must hold no `:` and no white space (they are parts of `dm:` channel
 * names); such characters are percent-encoded rather than dropped, so two
 * different names never share an id.
 *
 * A name is held for its identity while it is used and for a time after
 * (src/core/guest-holds.ts); once that time has passed the identity is
 * retired and the next guest of the name is a new generation with an id of
 * its own: the derived id for the first, `<derived>%g<n>` from the second
 * on. A derived id never holds `%g`: every `%` of a name is encoded as `%25`
 * and the encoder writes upper-case hex digits, so no name can type its way
 * into another generation's id.
 */
export function guestId(name: string): string {
  const folded = name.normalize('NFC').toLowerCase();
  return folded.replace(/[\s:%]/gu, (ch) => {
    let out = '';
    for (const byte of Buffer.from(ch, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
    return out;
  });
}

const GENERATION = /^(.+)%g([1-9][0-9]{0,8})$/u;

/** The id of generation `generation` (1, 2, ...) of the guest name whose derived id is `base`. */
export function guestGenerationId(base: string, generation: number): string {
  return generation === 1 ? base : `${base}%g${generation}`;
}

/** Which name (as its derived id) and generation a guest id belongs to; generation 1 for a plain derived id. */
export function parseGuestId(id: string): { base: string; generation: number } {
  const m = GENERATION.exec(id);
  if (m && Number(m[2]) > 1) return { base: m[1] as string, generation: Number(m[2]) };
  return { base: id, generation: 1 };
}

/** The id the admin's notices are sent from (src/core/admin.ts); no login may take it. */
export const SYSTEM_ID = 'system';

/** Ids reserved for the server: a login that would get one is refused with `name_taken`, as if that user were always online. */
export function isReservedId(id: string): boolean {
  return id === SYSTEM_ID;
}
