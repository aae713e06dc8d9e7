// The languages pixseek reads and names tags in.

export const LANGUAGE_NAMES = { fr: 'French', de: 'German', es: 'Spanish', it: 'Italian', pt: 'Portuguese', nl: 'Dutch' };
/** Tags are named in the browser's language when pixseek has its dictionary. */
export const TAG_LANGUAGE = (navigator.languages || [navigator.language || 'en'])
  .map((l) => String(l).slice(0, 2).toLowerCase()).find((l) => l === 'en' || l in LANGUAGE_NAMES) || 'en';
