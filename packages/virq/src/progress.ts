/**
 * A one-line progress bar on a TTY (redrawn in place with `\r`); on a pipe or file it prints nothing
 * until {@link ProgressBar.done}, so logs and JSON consumers never see control characters.
 */
export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #width: number;
  #last = -1;

  constructor(stream: NodeJS.WriteStream = process.stderr, width = 30) {
    this.#stream = stream;
    this.#width = width;
  }

  /** Draws `label` and a bar filled to `fraction` (0..1). Cheap to call often: redraws on change only. */
  update(fraction: number, label: string): void {
    if (!this.#stream.isTTY) return;
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * this.#width);
    const key = filled * 1000 + label.length;
    if (key === this.#last) return;
    this.#last = key;
    const bar = `${'█'.repeat(filled)}${'░'.repeat(this.#width - filled)}`;
    this.#stream.write(`\r${bar} ${(fraction * 100).toFixed(0).padStart(3)}%  ${label}\x1b[K`);
  }

  /** Clears the bar line (TTY only). */
  done(): void {
    if (this.#stream.isTTY) this.#stream.write('\r\x1b[K');
  }
}
