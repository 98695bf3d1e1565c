/**
 * Resolving a `site:` reference in access rules and threat exclusions to a site's index.
 *
 * A reference names a site by its `name`, or by any of its host patterns (`ballejaune.test`, `*.ballejaune.test`),
 * compared case-insensitively. Contract: `resolveSiteRef(ref, sites)` returns the index of the first site that
 * matches, or `undefined` (a config error the caller reports). Pure.
 */

/** The part of a site's config a reference is resolved against. */
export interface SiteRef {
  readonly name?: string | undefined
  readonly hosts: readonly string[]
}

export function resolveSiteRef(ref: string, sites: readonly SiteRef[]): number | undefined {
  const wanted = ref.trim().toLowerCase()
  for (let i = 0; i < sites.length; i++) {
    const site = sites[i]!
    if (site.name !== undefined && site.name.toLowerCase() === wanted) return i
  }
  for (let i = 0; i < sites.length; i++) {
    if (sites[i]!.hosts.some((h) => h.toLowerCase() === wanted)) return i
  }
  return undefined
}
