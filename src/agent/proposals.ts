/**
 * The SDK's proposals (`session.proposals`): open one — document operations kept apart from the
 * live document until a human accepts them — list and read them with their diff against the
 * live document, accept (a human's SDK only: the server refuses agents) or reject one.
 */
import type { DocOp } from '../session/docOps.js'
import type { AcceptedProposal, Proposal, ProposalStatus, RejectedProposal } from '../session/proposals.js'
import type { HttpClient } from './http.js'

export interface NewChangeProposal {
  /** What it does, in a line (1–200 characters). */
  title: string
  /** The operations of `writeDocument` (1–100). */
  ops: DocOp[]
  rationale?: string
  /** The session version the proposal rests on (from `read()`); default the server's version now. */
  basedOn?: number
}

export interface OpenedProposal {
  id: string
  /** Where `proposal.opened` landed. */
  version: number
  position: number
  /** The operations with the ids of the entries they create. */
  ops: DocOp[]
}

export interface ProposalOps {
  /** Opens a proposal (`proposal.opened`, attributed to this agent); its operations must be possible now. */
  open(proposal: NewChangeProposal): Promise<OpenedProposal>
  /** The session's proposals with their diffs, oldest first. */
  list(options?: { status?: ProposalStatus }): Promise<Proposal[]>
  get(id: string): Promise<Proposal>
  /**
   * Accepts it (a human with the editor role): merged as one `doc.update` by the caller; `conflicts`
   * lists entries others changed after its base. `onConflict: 'abort'` refuses it instead
   * (MnemoError 409 `proposal_conflict`) when there are any.
   */
  accept(id: string, options?: { onConflict?: 'apply' | 'abort'; rationale?: string }): Promise<AcceptedProposal>
  /** Rejects it (a human), or withdraws it (its author). */
  reject(id: string, options?: { rationale?: string }): Promise<RejectedProposal>
}

/**
 * @param applied Given the update an accept stored, so the caller's document shows it at once.
 */
export function createProposalOps(http: HttpClient, session: string, applied: (update: string | null) => void = () => {}): ProposalOps {
  const path = (rest = '') => `/api/sessions/${session}/proposals${rest}`
  const ref = (id: string) => `/${encodeURIComponent(id)}`
  return {
    open: ({ title, ops, rationale, basedOn }) =>
      http.request({
        method: 'POST', path: path(), idempotent: false, what: 'proposals.open',
        body: { title, ops, ...(rationale !== undefined && { rationale }), ...(basedOn !== undefined && { basedOn }) },
      }),
    async list({ status } = {}) {
      const answer = await http.request<{ proposals: Proposal[] }>({ method: 'GET', path: path(), query: { status }, idempotent: true, what: 'proposals.list' })
      return answer.proposals
    },
    get: (id) => http.request({ method: 'GET', path: path(ref(id)), idempotent: true, what: 'proposals.get' }),
    async accept(id, { onConflict, rationale } = {}) {
      const answer = await http.request<AcceptedProposal>({
        method: 'POST', path: path(`${ref(id)}/accept`), idempotent: false, what: 'proposals.accept',
        body: { ...(onConflict !== undefined && { onConflict }), ...(rationale !== undefined && { rationale }) },
      })
      applied(answer.update)
      return answer
    },
    reject: (id, { rationale } = {}) =>
      http.request({
        method: 'POST', path: path(`${ref(id)}/reject`), idempotent: false, what: 'proposals.reject',
        body: rationale !== undefined ? { rationale } : {},
      }),
  }
}
