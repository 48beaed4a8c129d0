/**
 * A progress bar on stderr for long CLI work (export, import): shown only when asked for
 * and when stderr is a terminal, so pipes and logs never receive bar drawings.
 */
import cliProgress from 'cli-progress'

export interface Progress {
  /** Moves the bar to `value`; a `phase` with a new label finishes this bar and starts another. */
  update(value: number, total?: number, phase?: { label: string; unit: string }): void
  stop(): void
}

const none: Progress = { update() {}, stop() {} }

export function createProgress(wanted: boolean | undefined, label: string, total: number, unit: string): Progress {
  if (!wanted || !process.stderr.isTTY) return none
  const bar = new cliProgress.SingleBar({
    format: `{label} [{bar}] {percentage}% | {value}/{total} {unit} | {duration_formatted} (ETA {eta_formatted})`,
    stream: process.stderr,
    hideCursor: true,
    fps: 5,
  }, cliProgress.Presets.shades_classic)
  bar.start(total, 0, { label, unit })
  return {
    update(value, newTotal, phase) {
      if (phase && phase.label !== label) {
        // A new phase gets a bar of its own (and its own ETA); the finished one stays above it.
        bar.update(bar.getTotal())
        bar.stop()
        label = phase.label
        bar.start(newTotal ?? bar.getTotal(), value, phase)
        return
      }
      if (newTotal !== undefined && newTotal !== bar.getTotal()) bar.setTotal(newTotal)
      bar.update(value)
    },
    stop() {
      bar.stop()
    },
  }
}
