/** What the page offers: in open mode everything, with a token what its role allows (SPEC roles). */
import type { Claims } from './api.js'

export interface Rights {
  /** Create sessions (editor, admin). */
  create: boolean
  /** Fork sessions (admin). */
  admin: boolean
}

export function rightsOf(mode: 'open' | 'token', claims: Claims | null): Rights {
  if (mode === 'open') return { create: true, admin: true }
  const role = claims?.role
  return { create: role === 'editor' || role === 'admin', admin: role === 'admin' }
}
