/** The session document as people see it: selections, path, annotations, decisions. */
import type { SessionState } from '../../src/session/schema.js'

interface Props {
  state: SessionState
  /** `path\0key` of the entries changed after the shown position (time travel), else empty. */
  changedSince: ReadonlySet<string>
  /** `path\0key` → who else is looking at that entry now (their awareness `focus`). */
  focusedBy?: ReadonlyMap<string, string[]>
}

const time = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toLocaleTimeString() : '')

export function DocumentView({ state, changedSince, focusedBy = new Map() }: Props) {
  const mark = (path: string, key: string) => {
    const classes = [changedSince.has(`${path}\u0000${key}`) ? 'changed' : '', focusedBy.has(`${path}\u0000${key}`) ? 'focused' : ''].filter(Boolean)
    return classes.length > 0 ? classes.join(' ') : undefined
  }
  const watchers = (path: string, key: string) => {
    const names = focusedBy.get(`${path}\u0000${key}`)
    return names ? <span class="watchers" data-watchers={names.join(',')}>👁 {names.join(', ')}</span> : null
  }
  const selections = Object.entries(state.selections)
  const annotations = Object.values(state.annotations)
  const decisions = Object.values(state.decisions)
  return (
    <div class="document" data-testid="document">
      <section>
        <h3>Selections <span class="count">{selections.length}</span></h3>
        {selections.length === 0 ? <p class="empty">none</p> : (
          <ul class="plain">
            {selections.map(([memoryId, s]) => (
              <li key={memoryId} class={mark('selections', memoryId)} data-selection={memoryId}>
                <code>{memoryId}</code> <span class="muted">by {s.by} at {time(s.at)}</span>{watchers('selections', memoryId)}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section>
        <h3>Exploration path <span class="count">{state.explorationPath.length}</span></h3>
        {state.explorationPath.length === 0 ? <p class="empty">none</p> : (
          <ol class="path">
            {state.explorationPath.map((step, i) => (
              <li key={`${i}-${step.memoryId}`} class={mark('explorationPath', step.memoryId)} data-step={step.memoryId}>
                <code>{step.memoryId}</code> <span class="muted">by {step.by}</span>{watchers('explorationPath', step.memoryId)}
                {step.note ? <div class="note">{step.note}</div> : null}
              </li>
            ))}
          </ol>
        )}
      </section>
      <section>
        <h3>Annotations <span class="count">{annotations.length}</span></h3>
        {annotations.length === 0 ? <p class="empty">none</p> : (
          <ul class="plain">
            {annotations.map((a) => (
              <li key={a.id} class={mark('annotations', a.id)} data-annotation={a.id}>
                <div><code>{a.target}</code> <span class="muted">{a.author}</span>{' '}
                  <span class={a.resolved ? 'tag ok' : 'tag'}>{a.resolved ? 'resolved' : 'open'}</span>{watchers('annotations', a.id)}</div>
                <div class="text">{a.text}</div>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section>
        <h3>Decisions <span class="count">{decisions.length}</span></h3>
        {decisions.length === 0 ? <p class="empty">none</p> : decisions.map((d) => {
          const tally = new Map<string, string[]>()
          for (const [voter, option] of Object.entries(d.votes)) tally.set(option, [...(tally.get(option) ?? []), voter])
          return (
            <div key={d.id} class={`decision ${mark('decisions', d.id) ?? ''}`} data-decision={d.id}>
              <div><strong>{d.question}</strong> <span class={`tag ${d.status === 'accepted' ? 'ok' : d.status === 'rejected' ? 'bad' : ''}`}>{d.status}{d.outcome ? `: ${d.outcome}` : ''}</span>{watchers('decisions', d.id)}</div>
              <ul class="plain options">
                {d.options.map((option) => (
                  <li key={option}>
                    {option} <span class="muted">{(tally.get(option) ?? []).length}/{d.quorum}</span>
                    {(tally.get(option) ?? []).length > 0 ? <span class="muted"> ({(tally.get(option) ?? []).join(', ')})</span> : null}
                  </li>
                ))}
              </ul>
              <div class="muted">by {d.createdBy}</div>
            </div>
          )
        })}
      </section>
    </div>
  )
}
