/**
 * A session view as a markdown briefing: who is involved, what is selected, the path taken
 * with its notes, what is still open, and what was decided — ids shown, so a reader (or an
 * agent) can act on them.
 */
import type { Annotation, Decision, PathStep, Selection } from '../session/schema.js'
import type { SessionView } from './sessionView.js'

export function renderBriefing(view: SessionView): string {
  const names = new Map(view.participants.map((p) => [p.id, p.name]))
  const who = (id: string) => (names.has(id) && names.get(id) !== id ? `${names.get(id)} (${code(id)})` : code(id))
  const { selections, explorationPath, annotations, decisions } = view.state
  const open = Object.values(annotations).filter((a) => !a.resolved)
  const resolved = Object.keys(annotations).length - open.length
  return [
    `# ${view.title ? `${oneLine(view.title)} (${code(view.session)})` : `Session ${code(view.session)}`}`,
    '',
    asOf(view),
    '',
    section(`Participants (${view.participants.length})`, view.participants.map((p) =>
      `- ${oneLine(p.name)} (${code(p.id)}, ${p.kind}) — ${p.online ? 'online' : 'left'}`)),
    section(`Selections (${Object.keys(selections).length})`, Object.entries(selections).map(([id, s]) => selectionLine(id, s, who))),
    section(`Exploration path (${explorationPath.length} ${explorationPath.length === 1 ? 'step' : 'steps'})`,
      explorationPath.map((step, i) => pathLine(i + 1, step, who))),
    section(`Open annotations (${open.length}${resolved ? `; ${resolved} resolved not shown` : ''})`,
      open.map((a) => annotationLine(a, who))),
    section(`Decisions (${Object.keys(decisions).length})`, Object.values(decisions).flatMap((d) => decisionLines(d, who))),
  ].join('\n').trimEnd() + '\n'
}

function asOf(view: SessionView): string {
  const parts = view.position === 0
    ? ['Before the session\'s first event.']
    : [`As of position ${view.position} (version ${view.version}${view.version === view.headVersion ? ', the latest' : ` of ${view.headVersion}`})` +
        (view.recordedAt ? `, recorded ${view.recordedAt}.` : '.')]
  if (view.forkedFrom) parts.push(`Forked from ${code(view.forkedFrom.session)} at position ${view.forkedFrom.position}.`)
  return parts.join(' ')
}

function section(title: string, lines: string[]): string {
  return [`## ${title}`, '', ...(lines.length ? lines : ['_none_']), ''].join('\n')
}

function selectionLine(memoryId: string, s: Selection, who: (id: string) => string): string {
  return `- ${code(memoryId)} — selected by ${who(s.by)}, ${time(s.at)}`
}

function pathLine(n: number, step: PathStep, who: (id: string) => string): string {
  const note = step.note ? ` — “${oneLine(step.note)}”` : ''
  return `${n}. ${code(step.memoryId)} — ${who(step.by)}, ${time(step.at)}${note}`
}

function annotationLine(a: Annotation, who: (id: string) => string): string {
  return `- ${code(a.id)} on ${code(a.target)} by ${who(a.author)}, ${time(a.createdAt)}: ${oneLine(a.text) || '_(empty)_'}`
}

function decisionLines(d: Decision, who: (id: string) => string): string[] {
  const status = d.status === 'accepted' ? `accepted: **${oneLine(d.outcome ?? '?')}**` : d.status
  const tally = d.options.map((option) => {
    const voters = Object.entries(d.votes).filter(([, v]) => v === option).map(([id]) => who(id))
    return `${oneLine(option)} — ${voters.length ? voters.join(', ') : 'none'}`
  })
  return [
    `- ${code(d.id)} ${oneLine(d.question)} — ${status}`,
    `  - options: ${d.options.map(oneLine).join(' / ') || '_none_'}; quorum ${d.quorum}; proposed by ${who(d.createdBy)}`,
    `  - votes: ${tally.join('; ') || '_none_'}`,
  ]
}

/** Epoch ms as UTC ISO; times written by clients can be anything, so guard. */
function time(ms: number): string {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString()
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}

/** Inline code that survives backticks inside the id. */
function code(text: string): string {
  const t = oneLine(text)
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``
}
